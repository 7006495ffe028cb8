import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import insurer.admin_utils
import insurer.templatetags.insurer_admin
from insurer.models import InsurerSettings, JobRun
from insurer.roles import AUDITOR, CLERK, SUPERVISOR
from insurer.services import nightly_run
from members.models import Member, MynaStatus, MyNumber, MyNumberAccessLog
from members.services import my_number_register
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory
from tests.importing import MEMBER_HEADER, member_line
from tests.visible_text import english_words

PLAIN = "983205673214"


@pytest.fixture
def register(office):
    insured = MemberFactory(
        office=office, number="12", family_name="山田", family_name_kana="ヤマダ"
    )
    spouse = MemberFactory.dependent_of(insured)
    MynaStatusFactory(member=insured)
    my_number_register(member=insured, value=PLAIN, user=None, reason="テスト登録")
    InsurerFactory()
    nightly_run(run_date=date(2026, 11, 21), trigger="test")  # the spouse has no status data
    return insured, spouse


def pages(insured: Member, status: MynaStatus):
    """(name, url, {role: expected status code})."""
    ok_all = {CLERK: 200, SUPERVISOR: 200, AUDITOR: 200}
    supervisor_only = {CLERK: 403, SUPERVISOR: 200, AUDITOR: 403}
    return [
        ("index", reverse("admin:index"), ok_all),
        ("member list", reverse("admin:members_member_changelist"), ok_all),
        (
            "member add",
            reverse("admin:members_member_add"),
            {CLERK: 200, SUPERVISOR: 200, AUDITOR: 403},
        ),
        ("member change", reverse("admin:members_member_change", args=[insured.pk]), ok_all),
        ("member history", reverse("admin:members_member_history", args=[insured.pk]), ok_all),
        (
            "member import",
            reverse("admin:members_member_import"),
            {CLERK: 200, SUPERVISOR: 200, AUDITOR: 403},
        ),
        ("member export", reverse("admin:members_member_export"), ok_all),
        (
            "member delete",
            reverse("admin:members_member_delete", args=[insured.pk]),
            {CLERK: 403, SUPERVISOR: 403, AUDITOR: 403},
        ),
        (
            "my number reveal",
            reverse("admin:members_member_my_number", args=[insured.pk]),
            supervisor_only,
        ),
        ("status list", reverse("admin:members_mynastatus_changelist"), ok_all),
        ("status view", reverse("admin:members_mynastatus_change", args=[status.pk]), ok_all),
        (
            "status import",
            reverse("admin:members_mynastatus_import"),
            {CLERK: 200, SUPERVISOR: 200, AUDITOR: 403},
        ),
        (
            "status add",
            reverse("admin:members_mynastatus_add"),
            {CLERK: 403, SUPERVISOR: 403, AUDITOR: 403},
        ),
        (
            "access log",
            reverse("admin:members_mynumberaccesslog_changelist"),
            {CLERK: 403, SUPERVISOR: 200, AUDITOR: 200},
        ),
        ("office list", reverse("admin:insurer_office_changelist"), ok_all),
        ("office add", reverse("admin:insurer_office_add"), supervisor_only),
        ("office change", reverse("admin:insurer_office_change", args=[insured.office.pk]), ok_all),
        ("office import", reverse("admin:insurer_office_import"), supervisor_only),
        ("insurer list", reverse("admin:insurer_insurer_changelist"), ok_all),
        ("settings", reverse("admin:insurer_insurersettings_change", args=[1]), ok_all),
        (
            "settings add",
            reverse("admin:insurer_insurersettings_add"),
            {CLERK: 403, SUPERVISOR: 403, AUDITOR: 403},
        ),
        ("member search", reverse("admin:members_member_changelist") + "?q=やまだ", ok_all),
        (
            "member filters",
            reverse("admin:members_member_changelist")
            + "?active=yes&myna=registered&relationship=self&symbol=1001",
            ok_all,
        ),
        (
            "office autocomplete",
            reverse("admin:autocomplete")
            + "?app_label=members&model_name=member&field_name=office&term=1001",
            ok_all,
        ),
    ]


@pytest.mark.django_db
def test_every_page_for_every_role(role_client, register):
    insured, _ = register
    failures = []
    for name, url, expected in pages(insured, insured.myna_status):
        response = role_client.get(url)
        if response.status_code != expected[role_client.role]:
            failures.append(f"{name}: {response.status_code} != {expected[role_client.role]}")
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            assert PLAIN not in response.content.decode(), f"{name} shows a My Number"
    assert failures == []


@pytest.mark.django_db
def test_member_page_says_an_open_lost_card_case_makes_the_card_unusable(clerk_client, register):
    """MY-2: registered, but the card was lost and the case is open: not 登録済/usable."""
    from certificates.models import LostCardCase

    insured, _ = register
    url = reverse("admin:members_member_change", args=[insured.pk])
    LostCardCase.objects.create(
        member=insured, lost_on=insured.myna_status.as_of, reported_on=insured.myna_status.as_of
    )
    html = clerk_client.get(url).content.decode()
    assert "利用できない（カード紛失の対応中・登録済）" in html
    assert "利用できる）" not in html
    listing = clerk_client.get(reverse("admin:members_member_changelist") + "?q=1001-12")
    assert "登録済・紛失対応中（利用できない）" in listing.content.decode()


@pytest.mark.django_db
def test_member_page_shows_household_status_and_masked_number(supervisor_client, register):
    insured, spouse = register
    html = supervisor_client.get(
        reverse("admin:members_member_change", args=[insured.pk])
    ).content.decode()
    assert "世帯（記号 1001・番号 12）" in html
    assert spouse.full_name in html
    assert 'id="myna-state">登録済（利用できる）<' in html
    assert "国のデータ 2026-10-31 時点" in html
    assert "********3214" in html
    assert "理由を入力して表示" in html
    assert PLAIN not in html


@pytest.mark.django_db
def test_clerks_see_the_mask_but_no_reveal_button(clerk_client, register):
    html = clerk_client.get(
        reverse("admin:members_member_change", args=[register[0].pk])
    ).content.decode()
    assert "********3214" in html
    assert "理由を入力して表示" not in html


@pytest.mark.django_db
def test_auditors_cannot_change_a_member(auditor_client, register):
    insured, _ = register
    url = reverse("admin:members_member_change", args=[insured.pk])
    response = auditor_client.post(url, {"family_name": "変更"})
    assert response.status_code == 403
    insured.refresh_from_db()
    assert insured.family_name == "山田"


@pytest.mark.django_db
def test_reveal_needs_a_reason_and_is_logged(supervisor_client, supervisor, register):
    insured, _ = register
    url = reverse("admin:members_member_my_number", args=[insured.pk])
    page = supervisor_client.get(url)
    assert PLAIN not in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    no_reason = supervisor_client.post(url, {"reason": "  "})
    assert PLAIN not in no_reason.content.decode()
    assert "表示する理由を入力してください" in no_reason.content.decode()
    assert not MyNumberAccessLog.objects.filter(action="reveal").exists()
    shown = supervisor_client.post(url, {"reason": "J-LIS照会結果との照合"})
    assert (
        f'id="revealed-my-number" style="font-size: 1.4em; letter-spacing: 0.1em;">{PLAIN}<'
        in shown.content.decode()
    )
    log = MyNumberAccessLog.objects.get(action="reveal")
    assert (log.user, log.member, log.reason, log.ip_address) == (
        supervisor,
        insured,
        "J-LIS照会結果との照合",
        "127.0.0.1",
    )


@pytest.mark.django_db
def test_clerk_cannot_reveal_even_by_posting(clerk_client, register):
    url = reverse("admin:members_member_my_number", args=[register[0].pk])
    assert clerk_client.post(url, {"reason": "見たい"}).status_code == 403
    assert not MyNumberAccessLog.objects.filter(action="reveal").exists()


def member_form(office_pk="1001", **overrides):
    data = {
        "office": office_pk,
        "number": "77",
        "branch": "00",
        "relationship": "self",
        "family_name": "鈴木",
        "given_name": "一郎",
        "family_name_kana": "すずき",
        "given_name_kana": "ｲﾁﾛｳ",
        "birth_date": "1975-04-01",
        "sex": "1",
        "postal_code": "",
        "address": "",
        "acquired_on": "2024-04-01",
        "lost_on": "",
        "loss_reason": "",
        "voluntary_until": "",
        "residence_expires_on": "",
        "standard_monthly_remuneration": "300000",
        "notified_on": "",
        "oqs_registered_on": "",
        "my_number": "",
        "change_reason": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_clerk_adds_a_member_with_a_my_number(clerk_client, clerk, office):
    response = clerk_client.post(
        reverse("admin:members_member_add"),
        member_form(my_number=PLAIN, change_reason="資格取得届"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    member = Member.objects.get(number="77")
    assert (member.family_name_kana, member.given_name_kana) == ("スズキ", "イチロウ")
    assert member.history.get().history_change_reason == "資格取得届"
    assert member.history.get().history_user == clerk
    assert MyNumber.objects.get(member=member).last4 == "3214"
    assert MyNumberAccessLog.objects.get(action="register").user == clerk


@pytest.mark.django_db
def test_add_form_reports_problems_in_japanese(clerk_client, office):
    response = clerk_client.post(
        reverse("admin:members_member_add"),
        member_form(
            relationship="child",
            my_number="123456789012",
        ),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "個人番号の検査用数字が正しくありません。" in html
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_dependent_without_insured_is_refused_in_the_form(clerk_client, office):
    html = clerk_client.post(
        reverse("admin:members_member_add"),
        member_form(relationship="child", standard_monthly_remuneration=""),
    ).content.decode()
    assert "同じ記号・番号の本人（続柄 self）が登録されていません。" in html
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_admin_import_of_a_cp932_file_with_confirmation(clerk_client, office):
    content = "\r\n".join([MEMBER_HEADER, member_line(number="5", my_number=PLAIN)]) + "\r\n"
    upload = SimpleUploadedFile("members.csv", content.encode("cp932"), content_type="text/csv")
    url = reverse("admin:members_member_import")
    preview = clerk_client.post(url, {"resource": "0", "format": "0", "import_file": upload})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert PLAIN not in html
    assert Member.objects.count() == 0  # the preview is a dry run
    assert english_words(html) == []  # the preview is Japanese
    assert "2行目" in html and "新規" in html and "氏（family_name）" in html
    confirm = preview.context["confirm_form"].initial
    done = clerk_client.post(reverse("admin:members_member_process_import"), confirm)
    assert done.status_code == 302
    listing = clerk_client.get(done["Location"]).content.decode()
    assert "加入者を取り込みました: 新規 1件、更新 0件、変更なし 0件。" in listing
    member = Member.objects.get(number="5")
    assert MyNumber.objects.get(member=member).last4 == "3214"


@pytest.mark.django_db
def test_admin_import_with_bad_rows_offers_no_confirmation(clerk_client, office):
    content = "\r\n".join([MEMBER_HEADER, member_line(symbol="9999")]) + "\r\n"
    upload = SimpleUploadedFile("members.csv", content.encode("utf-8"), content_type="text/csv")
    response = clerk_client.post(
        reverse("admin:members_member_import"),
        {"resource": "0", "format": "0", "import_file": upload},
    )
    html = response.content.decode()
    assert "記号「9999」の事業所が登録されていません。" in html
    assert re.search(r"2行目</td>\s*<td>symbol</td>", html)  # line 1 is the header
    assert english_words(html) == []
    assert response.context.get("confirm_form") is None
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_settings_page_shows_the_defaults(supervisor_client):
    settings = InsurerSettings.objects.get(pk=1)
    assert (settings.certificate_validity_years, settings.lost_card_validity_months) == (5, 3)
    assert (settings.renewal_lead_days, settings.registration_deadline_days) == (60, 5)
    assert settings.my_number_retention_years == 7 and settings.round_down_to_month_end
    html = supervisor_client.get(
        reverse("admin:insurer_insurersettings_change", args=[1])
    ).content.decode()
    assert "資格確認書の有効期間（年）" in html


@pytest.mark.django_db
def test_history_cannot_be_reverted_from_the_admin(supervisor_client, register):
    insured, _ = register
    first = insured.history.get()
    insured.family_name = "山川"
    insured.save()
    url = reverse("admin:members_member_simple_history", args=[insured.pk, first.history_id])
    page = supervisor_client.get(url)
    assert "元に戻す" not in page.content.decode() and "Revert" not in page.content.decode()
    assert 'name="family_name"' not in page.content.decode()  # read-only: nothing to type into
    assert "山田" in page.content.decode()  # the past value
    refused = supervisor_client.post(url, {**member_form(), "family_name": "山田", "number": "12"})
    assert refused.status_code == 403
    insured.refresh_from_db()
    assert insured.family_name == "山川"
    assert insured.history.count() == 2


@pytest.mark.django_db
def test_member_list_search_and_filters(clerk_client, register, office):
    MemberFactory(
        office=office,
        number="13",
        family_name="佐藤",
        family_name_kana="サトウ",
        given_name_kana="イチロウ",
        lost_on=date(2025, 4, 1),
        acquired_on=date(2020, 4, 1),
    )
    url = reverse("admin:members_member_changelist")

    def shown(query: str) -> set[str]:
        return {m.key for m in clerk_client.get(url + query).context["cl"].result_list}

    assert shown("?q=1001-12") == {"1001-12-00", "1001-12-01"}
    assert shown("?q=１００１　１２　０１") == {"1001-12-01"}
    assert shown("?q=ﾔﾏﾀﾞ") == {"1001-12-00", "1001-12-01"}
    assert shown("?q=やまだ はな") == {"1001-12-01"}
    assert shown("?q=山田 太") == {"1001-12-00"}
    assert shown("?active=no") == {"1001-13-00"}
    assert shown("?active=yes") == {"1001-12-00", "1001-12-01"}
    assert shown("?myna=registered") == {"1001-12-00"}
    assert shown("?myna=no_data") == {"1001-12-01", "1001-13-00"}
    assert shown("?relationship=spouse") == {"1001-12-01"}
    assert shown("?symbol=9999") == set()


@pytest.mark.django_db
def test_worklist_links_to_the_member_and_the_member_page_lists_open_flags(clerk_client, register):
    _, spouse = register
    html = clerk_client.get(reverse("admin:members_flag_changelist")).content.decode()
    assert reverse("admin:members_member_change", args=[spouse.pk]) in html
    assert "資格確認書が必要" in html and "マイナンバーカード未取得" in html
    page = clerk_client.get(
        reverse("admin:members_member_change", args=[spouse.pk])
    ).content.decode()
    assert "対応フラグ（対応中）" in page and "2026-11-21 から" in page


@pytest.mark.django_db
def test_job_run_page_explains_the_counts_in_japanese(supervisor_client, register):
    run = JobRun.objects.get()
    html = supervisor_client.get(
        reverse("admin:insurer_jobrun_change", args=[run.pk])
    ).content.decode()
    assert "発生 資格確認書が必要（マイナンバーカード未取得）: 1件" in html


@pytest.mark.django_db
def test_a_list_that_stopped_counting_says_so(clerk_client, register, monkeypatch):
    """A filtered list counts up to COUNT_LIMIT: past it the clerk reads 「N 件以上」,
    never a made-up exact number (10001 at a million members)."""
    url = reverse("admin:members_member_changelist") + "?q=1001-12"
    page = clerk_client.get(url).content.decode()
    assert "結果 2 件" in page and "2 件（加入者）" in page
    monkeypatch.setattr(insurer.admin_utils, "COUNT_LIMIT", 1)
    monkeypatch.setattr(insurer.templatetags.insurer_admin, "COUNT_LIMIT", 1)
    page = clerk_client.get(url).content.decode()
    assert "結果 1 件以上" in page and "1 件以上（加入者）" in page
