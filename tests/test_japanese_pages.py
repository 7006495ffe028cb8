"""Every admin page a clerk, supervisor or auditor opens is in Japanese.

Crawls, per role: the index, each registered model's list, add page, change page and
history page (and one past version) of an object, the import and export pages, the My
Number reveal page, refusals (403) and a missing page (404) — and fails on any English
word Django, simple-history or django-import-export would put in the visible text.
The browser asks for English (Accept-Language: en): no page may follow it.
"""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from certificates.models import LostCardCase
from certificates.services import batch_file_download, certificate_print_single
from inquiries.models import Category, Inquiry
from inquiries.services import inquiry_log
from insurer.logins import otp_required
from insurer.roles import AUDITOR, CLERK, SUPERVISOR
from tests.otp import verify_session
from tests.scenario import build_register
from tests.visible_text import english_column_headers, english_words


def urls_for(model, obj) -> list[str]:
    info = (model._meta.app_label, model._meta.model_name)
    urls = [
        reverse("admin:{}_{}_changelist".format(*info)),
        reverse("admin:{}_{}_add".format(*info)),
    ]
    for name in ("import", "export"):
        try:
            urls.append(reverse("admin:{}_{}_{}".format(*info, name)))
        except NoReverseMatch:
            pass
    if obj is not None:
        urls.append(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        urls.append(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
        record = getattr(obj, "history", None)
        if record is not None and record.exists():
            urls.append(
                reverse(
                    "admin:{}_{}_simple_history".format(*info),
                    args=[obj.pk, record.first().history_id],
                )
            )
    return urls


@pytest.fixture
def register(db, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path
    today = timezone.localdate()
    register = build_register(today)
    clerk, supervisor = register.users[CLERK], register.users[SUPERVISOR]
    case = LostCardCase.objects.create(member=register.sato, lost_on=today, reported_on=today)
    case.applications.create(member=register.sato, kind="lost_card", received_on=today)
    inquiry_log(
        inquiry=Inquiry(
            member=register.sato,
            category=Category.objects.get(opens_incident=True),
            question="別の人の情報が表示された",
            handler=clerk,
        ),
        user=clerk,
    )
    certificate_print_single(certificate=register.certificate, user=clerk)
    batch_file_download(batch=register.batch, kind="pdf", user=supervisor, ip_address=None)
    return register


@pytest.mark.parametrize("role", [CLERK, SUPERVISOR, AUDITOR])
def test_every_admin_page_is_in_japanese(register, role):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    user = register.users[role]
    client.force_login(user)
    if otp_required(user):
        verify_session(client, user)  # 管理者 and 監査 have typed their 確認コード
    urls = [reverse("admin:index"), "/admin/no-such-page/"]
    urls.append(reverse("admin:members_member_my_number", args=[register.sato.pk]))
    for model in admin.site._registry:
        urls += urls_for(model, model._default_manager.order_by("pk").first())

    statuses, problems = {}, []
    for url in urls:
        response = client.get(url)
        statuses[url] = response.status_code
        if response.status_code in (301, 302):
            continue
        assert response.status_code in (200, 403, 404), f"{url}: {response.status_code}"
        if "html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        assert '<html lang="ja"' in html, f"{url} is not a Japanese page"
        words = english_words(html) + english_column_headers(html)
        if words:
            problems.append(f"{url} ({response.status_code}): {', '.join(words)}")
    assert problems == []
    # The crawl really opened pages of every kind, including refusals and a missing page.
    assert list(statuses.values()).count(200) > 60
    assert 404 in statuses.values()
    if role != SUPERVISOR:
        assert 403 in statuses.values()


def test_the_deny_list_catches_what_the_libraries_print():
    """The check itself: the English it must find, and no false alarm on Japanese pages."""
    assert english_words("<th>Object</th><td>None</td>") == ["None", "Object"]
    assert english_words('<input type="submit" value="Save">') == ["Save"]
    assert english_words("<p>Some rows failed to validate</p>") == ["Some rows"]
    assert english_words('<a title="History" href="/history/">変更履歴</a>') == []
    assert english_words("<script>var Save = 1;</script><p>保存</p>") == []
    header = '<th scope="col" class="column-full_name"><div class="text"><span>Full name</span></div></th>'
    assert english_column_headers(header) == ["Full name"]
    assert english_column_headers(header.replace("Full name", "氏名")) == []


def test_server_error_and_csrf_pages_are_japanese(db):
    from django.template.loader import render_to_string

    page = render_to_string("500.html")
    assert '<html lang="ja">' in page and "システムエラーが起きました" in page
    assert english_words(page) == []
    refused = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en").post(
        "/admin/login/", {"username": "clerk", "password": "x"}
    )
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "送信を受け付けられませんでした" in html and english_words(html) == []
