"""Issue 11: logging a call never lists the register. The member, the application and
the lost-card case are autocomplete fields (a search by 記号番号 or kana, never a <select>
of a million members), and the add form costs as many queries with 40 members as with 3."""

import re

import pytest
from django.contrib.admin.widgets import AutocompleteSelect
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inquiries.models import Category, Inquiry
from tests.factories import MemberFactory

ADD = reverse("admin:inquiries_inquiry_add")


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    return re.findall(r'<option value="([^"]*)"', select.group(1))


@pytest.mark.django_db
def test_the_member_is_chosen_by_autocomplete_not_from_a_list(clerk_client, office):
    members = [MemberFactory(office=office) for _ in range(30)]
    response = clerk_client.get(ADD, {"member": members[7].pk})
    form = response.context["adminform"].form
    for name in ("member", "application", "lost_card_case"):
        assert isinstance(form.fields[name].widget.widget, AutocompleteSelect), name
    html = response.content.decode()
    assert options(html, "member") == ["", str(members[7].pk)]  # only the one chosen
    assert "admin-autocomplete" in html
    assert options(html, "application") == [""]
    assert options(html, "lost_card_case") == [""]


@pytest.mark.django_db
def test_the_add_form_and_its_save_do_not_grow_with_the_register(clerk_client, office):
    first = MemberFactory(office=office)
    clerk_client.get(ADD, {"member": first.pk})
    with CaptureQueriesContext(connection) as small:
        assert clerk_client.get(ADD, {"member": first.pk}).status_code == 200
    for _ in range(40):
        MemberFactory(office=office)
    with CaptureQueriesContext(connection) as large:
        assert clerk_client.get(ADD, {"member": first.pk}).status_code == 200
    assert len(large) == len(small)

    category = Category.objects.filter(is_active=True, opens_incident=False).first()
    now = timezone.localtime()
    data = {
        "received_at_0": f"{now:%Y-%m-%d}",
        "received_at_1": f"{now:%H:%M:%S}",
        "channel": "phone",
        "caller_role": "member",
        "member": first.pk,
        "category": category.pk,
        "question": "資格確認書はいつ届きますか",
        "status": "closed",
    }
    with CaptureQueriesContext(connection) as saved:
        response = clerk_client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Inquiry.objects.get().member == first
    # No query reads the register beyond the chosen member.
    reads = [q["sql"] for q in saved.captured_queries if 'FROM "members_member"' in q["sql"]]
    assert reads and all("WHERE" in sql for sql in reads), reads
