import io
import json
import re
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from inquiries.guidance import INITIAL_CATEGORIES
from inquiries.models import Category, Incident, Inquiry
from inquiries.services import (
    follow_ups_flag,
    incident_close,
    incident_record_step,
    incident_review,
    inquiry_log,
)
from insurer.roles import AUDITOR, CLERK, SUPERVISOR
from insurer.services import nightly_run
from tests.factories import MemberFactory

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
FACTS = ("マイナンバー総合フリーダイヤル 0120-95-0178",)
TOPICS = {
    "registration_status",
    "shown_invalid",
    "wrong_person_shown",
    "lost_card",
    "notice_lost",
    "notice_not_received",
    "pin_locked",
    "child_card_reader",
    "deregistration",
    "care_needs",
    "certificate_expiry",
    "my_number_safety",
}


def category(code: str) -> Category:
    return Category.objects.get(code=code)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.mark.django_db
def test_every_topic_has_a_guide_in_our_own_words():
    categories = {c.code: c for c in Category.objects.all()}
    assert TOPICS <= set(categories)
    assert all(len(categories[code].guidance) > 40 for code in TOPICS)
    assert categories["wrong_person_shown"].opens_incident
    assert [c.code for c in Category.objects.order_by("order")][:2] == [
        "registration_status",
        "wrong_person_shown",
    ]
    assert SEEDS.is_dir(), f"the seed FAQs are read from ../shared/seeds ({SEEDS})"
    seeds = squash("".join(path.read_text(errors="ignore") for path in sorted(SEEDS.glob("*.txt"))))
    assert len(seeds) > 10_000
    for data in INITIAL_CATEGORIES:
        text = squash(data["guidance"])
        for fact in FACTS:  # names and numbers that must stay verbatim are not prose
            text = text.replace(squash(fact), "")
        for sentence in filter(
            None, re.split(r"[。\n]", unicodedata.normalize("NFKC", data["guidance"]))
        ):
            assert squash(sentence) not in seeds or len(squash(sentence)) < 12, sentence
        # and no run of 20 characters taken over from a seed document
        runs = {text[i : i + 20] for i in range(0, max(len(text) - 19, 0))}
        copied = [run for run in runs if run in seeds]
        assert copied == [], (data["code"], copied[:3])


def inquiry_form(member, category_obj, **overrides):
    now = timezone.localtime()
    data = {
        "received_at_0": now.strftime("%Y-%m-%d"),
        "received_at_1": now.strftime("%H:%M:%S"),
        "channel": "phone",
        "caller_role": "member",
        "member": member.pk if member else "",
        "caller_name": "",
        "category": category_obj.pk,
        "question": "登録できているか知りたい",
        "answer": "マイナポータルでの確かめ方を案内した",
        "status": "closed",
        "follow_up_on": "",
        "application": "",
        "lost_card_case": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_logging_an_inquiry_through_the_admin_for_each_role(role_client, office):
    member = MemberFactory(office=office, number="1")
    url = reverse("admin:inquiries_inquiry_add")
    page = role_client.get(url)
    if role_client.role == AUDITOR:
        assert page.status_code == 403
        assert (
            role_client.post(url, inquiry_form(member, category("registration_status"))).status_code
            == 403
        )
        assert not Inquiry.objects.exists()
        return
    html = page.content.decode()
    script = re.search(
        r'<script id="category-guidance" type="application/json">(.*?)</script>', html, re.S
    )
    guides = json.loads(
        script.group(1)
    )  # the guides travel with the form, shown as the category changes
    assert "マイナポータル" in guides[str(category("registration_status").pk)]["guidance"]
    response = role_client.post(url, inquiry_form(member, category("registration_status")))
    assert response.status_code == 302, response.content.decode()[:2000]
    inquiry = Inquiry.objects.get()
    assert (inquiry.member, inquiry.status, inquiry.handler.username) == (
        member,
        "closed",
        (role_client.role == CLERK and "clerk") or "supervisor",
    )
    assert inquiry.closed_at is not None
    assert inquiry.history.get().history_change_reason == "問合せを記録"


@pytest.mark.django_db
def test_a_follow_up_date_keeps_the_inquiry_open(clerk_client, office):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    clerk_client.post(
        reverse("admin:inquiries_inquiry_add"),
        inquiry_form(
            None,
            category("notice_not_received"),
            follow_up_on=tomorrow,
            caller_name="事業所 総務課",
        ),
    )
    assert Inquiry.objects.get().status == "open"


@pytest.mark.django_db
def test_urgent_category_opens_an_incident_reviewed_by_a_supervisor(clerk, supervisor, office):
    member = MemberFactory(office=office, number="1")
    inquiry = inquiry_log(
        inquiry=Inquiry(
            member=member,
            category=category("wrong_person_shown"),
            question="マイナポータルに知らない人の名前",
            status="open",
        ),
        user=clerk,
    )
    incident = Incident.objects.get()
    assert (incident.inquiry, incident.member, incident.status) == (inquiry, member, "open")
    inquiry_log(inquiry=inquiry, user=clerk)  # saving again opens no second incident
    assert Incident.objects.count() == 1
    incident_record_step(incident=incident, step="held_on", on=timezone.localdate(), user=clerk)
    with pytest.raises(PermissionDenied):
        incident_review(incident=incident, user=clerk)
    with pytest.raises(ValidationError):
        incident_close(incident=incident, user=supervisor)  # not reviewed yet
    incident_review(incident=incident, user=supervisor)
    incident_close(incident=incident, user=supervisor)
    incident.refresh_from_db()
    assert (incident.status, incident.reviewed_by, incident.closed_by) == (
        "closed",
        supervisor,
        supervisor,
    )
    assert [h.history_change_reason for h in incident.history.order_by("history_date")] == [
        "紐付け誤りの問合せからインシデントを開始",
        "対応を記録: 表示の停止・保留",
        "管理者が確認",
        "インシデントを終了",
    ]


@pytest.mark.django_db
def test_nightly_job_escalates_unreviewed_incidents_and_overdue_follow_ups(
    clerk, supervisor, office
):
    received = timezone.make_aware(datetime(2026, 11, 20, 10, 0))
    urgent = inquiry_log(
        inquiry=Inquiry(
            category=category("wrong_person_shown"),
            question="別人",
            status="open",
            received_at=received,
        ),
        user=clerk,
    )
    late = inquiry_log(
        inquiry=Inquiry(
            category=category("lost_card"),
            question="紛失",
            received_at=received,
            follow_up_on=date(2026, 11, 20),
        ),
        user=clerk,
    )
    on_time = inquiry_log(
        inquiry=Inquiry(
            category=category("lost_card"),
            question="紛失",
            received_at=received,
            follow_up_on=date(2026, 11, 21),
        ),
        user=clerk,
    )
    assert follow_ups_flag(as_of=date(2026, 11, 20)) == {
        "inquiries_overdue": 0,
        "incidents_unreviewed": 0,
    }
    run = nightly_run(run_date=date(2026, 11, 21), trigger="test")
    assert (run.counts["inquiries_overdue"], run.counts["incidents_unreviewed"]) == (1, 1)
    late.refresh_from_db(), on_time.refresh_from_db()
    assert (late.overdue_since, on_time.overdue_since) == (date(2026, 11, 21), None)
    assert Incident.objects.get(inquiry=urgent).escalated_on == date(2026, 11, 21)
    assert follow_ups_flag(as_of=date(2026, 11, 21)) == {
        "inquiries_overdue": 0,
        "incidents_unreviewed": 0,
    }
    late.status = "closed"
    inquiry_log(inquiry=late, user=clerk)
    late.refresh_from_db()
    assert late.overdue_since is None


@pytest.mark.django_db
def test_clerks_see_their_own_overdue_items_first(clerk_client, clerk, supervisor, office):
    own_late = inquiry_log(
        inquiry=Inquiry(
            category=category("other"),
            question="折り返し",
            follow_up_on=date(2026, 1, 1),
            received_at=timezone.now() - timedelta(days=30),
        ),
        user=clerk,
    )
    inquiry_log(
        inquiry=Inquiry(
            category=category("other"), question="他人の件", follow_up_on=date(2026, 1, 1)
        ),
        user=supervisor,
    )
    inquiry_log(inquiry=Inquiry(category=category("other"), question="新しい件"), user=clerk)
    follow_ups_flag(as_of=timezone.localdate())
    listed = list(
        clerk_client.get(reverse("admin:inquiries_inquiry_changelist")).context["cl"].result_list
    )
    assert listed[0] == own_late and len(listed) == 3
    index = clerk_client.get(reverse("admin:index")).content.decode()
    assert "期日を過ぎたものが 1 件" in index
    mine = (
        clerk_client.get(reverse("admin:inquiries_inquiry_changelist") + "?mine=overdue")
        .context["cl"]
        .result_list
    )
    assert list(mine) == [own_late]


@pytest.mark.django_db
def test_monthly_report_in_csv_and_xlsx(supervisor_client, clerk_client, clerk):
    import openpyxl

    for month, code in (
        (10, "lost_card"),
        (11, "lost_card"),
        (11, "lost_card"),
        (11, "pin_locked"),
    ):
        inquiry_log(
            inquiry=Inquiry(
                category=category(code),
                question="q",
                received_at=timezone.make_aware(datetime(2026, month, 15, 9)),
            ),
            user=clerk,
        )
    csv = supervisor_client.get(reverse("admin:inquiries_inquiry_report", args=["csv"]))
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "month,category,received,closed,overdue",
        "2026-10,マイナンバーカードをなくした・盗まれた,1,1,0",
        "2026-11,マイナンバーカードをなくした・盗まれた,2,2,0",
        "2026-11,暗証番号がロックされた,1,1,0",
    ]
    xlsx = supervisor_client.get(reverse("admin:inquiries_inquiry_report", args=["xlsx"]))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [cell.value for cell in sheet[2]] == [
        "2026-10",
        "マイナンバーカードをなくした・盗まれた",
        1,
        1,
        0,
    ]
    assert (
        clerk_client.get(reverse("admin:inquiries_inquiry_report", args=["csv"])).status_code == 403
    )


@pytest.mark.django_db
def test_inquiry_pages_for_every_role(role_client, office):
    from django.contrib.auth import get_user_model

    handler = get_user_model().objects.create_user(username="handler", password="x", is_staff=True)
    inquiry = inquiry_log(
        inquiry=Inquiry(category=category("wrong_person_shown"), question="別人"), user=handler
    )
    incident = Incident.objects.get()
    ok = {CLERK: 200, SUPERVISOR: 200, AUDITOR: 200}
    expectations = [
        (reverse("admin:inquiries_inquiry_changelist"), ok),
        (
            reverse("admin:inquiries_inquiry_changelist") + "?open=yes&overdue=yes&mine=yes&q=1001",
            ok,
        ),
        (reverse("admin:inquiries_inquiry_change", args=[inquiry.pk]), ok),
        (reverse("admin:inquiries_inquiry_export"), {CLERK: 403, SUPERVISOR: 200, AUDITOR: 200}),
        (reverse("admin:inquiries_category_changelist"), ok),
        (reverse("admin:inquiries_category_change", args=[inquiry.category_id]), ok),
        (reverse("admin:inquiries_incident_changelist") + "?reviewed=no", ok),
        (reverse("admin:inquiries_incident_change", args=[incident.pk]), ok),
        (reverse("admin:inquiries_incident_add"), {CLERK: 403, SUPERVISOR: 403, AUDITOR: 403}),
    ]
    failures = [
        (url, role_client.get(url).status_code)
        for url, codes in expectations
        if role_client.get(url).status_code != codes[role_client.role]
    ]
    assert failures == []


@pytest.mark.django_db
def test_supervisors_edit_the_guidance(supervisor_client, clerk_client):
    guide = category("pin_locked")
    url = reverse("admin:inquiries_category_change", args=[guide.pk])
    data = {
        "name": guide.name,
        "code": guide.code,
        "order": guide.order,
        "is_active": "on",
        "guidance": "新しい手引き",
    }
    assert clerk_client.post(url, data).status_code == 403
    assert supervisor_client.post(url, data).status_code == 302
    assert Category.objects.get(pk=guide.pk).guidance == "新しい手引き"
