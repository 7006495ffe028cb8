"""The member form and My Numbers (issue 9): a number already taken is a Japanese form
error, never a 500; a typed number is never written back into the page; a stale save is
refused; with DEBUG the error page does not show the number."""

import pytest
from django.urls import reverse

from members import admin as member_admin
from members.models import Member, MyNumber
from members.services import my_number_register
from tests.conftest import logged_in
from tests.factories import MemberFactory
from tests.members.test_admin import member_form

PLAIN = "983205673214"
OTHER_VALID = "123456789018"


@pytest.fixture
def holder(office):
    member = MemberFactory(office=office, number="12")
    my_number_register(member=member, value=PLAIN, user=None, reason="登録")
    return member


def change_form(member: Member, **overrides) -> dict:
    member.refresh_from_db()
    stored = {
        "office": member.office_id,
        "number": member.number,
        "branch": member.branch,
        "relationship": member.relationship,
        "family_name": member.family_name,
        "family_name_kana": member.family_name_kana,
        "birth_date": member.birth_date.isoformat(),
        "acquired_on": member.acquired_on.isoformat(),
        "loaded_updated_at": member.updated_at.isoformat(),
    }
    return member_form(**{**stored, **overrides})


@pytest.mark.django_db
def test_a_number_already_taken_is_a_form_error_not_a_500(clerk_client, holder, office):
    response = clerk_client.post(reverse("admin:members_member_add"), member_form(my_number=PLAIN))
    html = response.content.decode()
    assert response.status_code == 200
    assert "この個人番号は別の加入者に登録されています。" in html
    assert PLAIN not in html
    assert Member.objects.count() == 1 and MyNumber.objects.count() == 1


@pytest.mark.django_db
def test_a_number_taken_on_the_change_form_too(clerk_client, holder, office):
    other = MemberFactory(office=office, number="13")
    url = reverse("admin:members_member_change", args=[other.pk])
    response = clerk_client.post(url, change_form(other, my_number=PLAIN))
    assert response.status_code == 200
    assert "この個人番号は別の加入者に登録されています。" in response.content.decode()
    assert PLAIN not in response.content.decode()
    assert not MyNumber.objects.filter(member=other).exists()


@pytest.mark.django_db
def test_the_same_number_again_for_the_same_person_is_fine(clerk_client, holder):
    url = reverse("admin:members_member_change", args=[holder.pk])
    response = clerk_client.post(url, change_form(holder, my_number=PLAIN))
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_typed_number_is_not_written_back_after_another_error(clerk_client, office):
    response = clerk_client.post(
        reverse("admin:members_member_add"),
        member_form(my_number=OTHER_VALID, birth_date="not a date"),
    )
    html = response.content.decode()
    assert response.status_code == 200 and Member.objects.count() == 0
    assert OTHER_VALID not in html
    assert "個人番号はもう一度入力してください" in html


@pytest.mark.django_db
def test_a_number_saved_for_someone_else_at_the_last_moment_is_a_message(
    clerk_client, holder, office, monkeypatch
):
    """The form found the number free; the service then refuses (someone saved it in
    between): nothing is saved, a Japanese message, no 500."""
    monkeypatch.setattr(member_admin, "my_number_in_use", lambda **kwargs: False)
    response = clerk_client.post(
        reverse("admin:members_member_add"), member_form(my_number=PLAIN), follow=True
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "この個人番号は別の加入者に登録されています。" in html and PLAIN not in html
    assert Member.objects.count() == 1  # the new member was rolled back with the number


@pytest.mark.django_db
def test_a_stale_save_is_refused(clerk_client, supervisor_client, auditor_client, office):
    member = MemberFactory(office=office, number="14", family_name="山田")
    url = reverse("admin:members_member_change", args=[member.pk])
    page = clerk_client.get(url).content.decode()
    assert f'type="hidden" name="loaded_updated_at" value="{member.updated_at.isoformat()}"' in (
        page
    )
    assert "loaded_updated_at" not in auditor_client.get(url).content.decode()  # read-only
    clerks_form = change_form(member, family_name="山川")  # opened the page
    assert supervisor_client.post(url, change_form(member, family_name="山本")).status_code == 302
    response = clerk_client.post(url, clerks_form)
    assert response.status_code == 200
    assert "画面を開いた後に別の人が保存しています" in response.content.decode()
    member.refresh_from_db()
    assert member.family_name == "山本"


@pytest.mark.django_db
def test_the_debug_page_never_shows_a_typed_number(clerk, office, settings, monkeypatch):
    settings.DEBUG = True

    def crash(**kwargs):
        raise RuntimeError("保存中の障害")

    monkeypatch.setattr(member_admin, "member_save", crash)
    client = logged_in(clerk)
    client.raise_request_exception = False
    response = client.post(reverse("admin:members_member_add"), member_form(my_number=PLAIN))
    html = response.content.decode()
    assert response.status_code == 500
    assert "保存中の障害" in html  # it is the debug page
    assert PLAIN not in html and PLAIN[:4] + " " not in html


def test_the_error_reporter_filter_hides_numbers_in_any_variable():
    from django.test import RequestFactory

    from insurer.errors import MyNumberSafeExceptionReporterFilter

    request = RequestFactory().post("/", {"my_number": PLAIN, "note": f"番号{PLAIN}です"})
    params = MyNumberSafeExceptionReporterFilter().get_post_parameters(request)
    assert PLAIN not in str(dict(params.lists()))


@pytest.mark.django_db
def test_a_form_opened_before_the_nightly_loss_at_75_is_stale(clerk_client, office):
    """The nightly job records a loss at 75 while a clerk has the member's page open: the
    clerk's save must not quietly undo it (the job's write counts as a save)."""
    from datetime import date

    from members.services import members_apply_loss_at_75

    member = MemberFactory(office=office, number="15", birth_date=date(1951, 7, 8))
    url = reverse("admin:members_member_change", args=[member.pk])
    clerks_form = change_form(member, address="東京都港区")  # the page is open
    assert members_apply_loss_at_75(as_of=date(2026, 7, 8)) == 1
    response = clerk_client.post(url, clerks_form)
    assert "画面を開いた後に別の人が保存しています" in response.content.decode()
    member.refresh_from_db()
    assert (member.lost_on, member.loss_reason) == (date(2026, 7, 8), "late_elderly")
