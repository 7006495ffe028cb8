from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import insurer.admin_site
from certificates.models import Certificate, LostCardCase
from certificates.services import certificate_issue
from inquiries.models import Category, Incident, Inquiry
from insurer.dashboard import Bar, _scaled, dashboard_numbers
from insurer.models import JobRun
from members.models import Flag
from tests.factories import InsurerFactory, MemberFactory


def make_data(office, user, start: int, today):
    """A hand-counted slice of everything the dashboard counts (numbers from `start`)."""
    people = [
        MemberFactory(office=office, number=str(start + i), birth_date=today.replace(year=1980))
        for i in range(8)
    ]
    for person, kind, reason, closed in [
        (people[0], "certificate_needed", "no_card", None),
        (people[1], "certificate_needed", "no_card", None),
        (people[2], "certificate_needed", "not_registered", None),
        (people[3], "turning_70", "", None),
        (people[4], "certificate_needed", "no_card", today),  # closed: not counted
    ]:
        Flag.objects.create(
            member=person,
            kind=kind,
            reason=reason,
            opened_on=today - timedelta(days=3),
            closed_on=closed,
        )
    first = today.replace(day=1)
    issued = [
        certificate_issue(member=people[0], reason="no_card", issued_on=first),
        certificate_issue(member=people[1], reason="no_card", issued_on=first),
        certificate_issue(member=people[2], reason="care_needs", issued_on=first),
        certificate_issue(
            member=people[3], reason="no_card", issued_on=first - timedelta(days=40)
        ),  # last month
    ]
    for certificate, days in zip(issued, (10, 45, 80, 100), strict=True):
        Certificate.objects.filter(pk=certificate.pk).update(
            valid_until=today + timedelta(days=days)
        )
    LostCardCase.objects.create(member=people[5], lost_on=today, reported_on=today)
    LostCardCase.objects.create(member=people[6], lost_on=today, reported_on=today)
    LostCardCase.objects.create(
        member=people[7], lost_on=today, reported_on=today, status="closed", closed_on=today
    )
    lost, pin = Category.objects.get(code="lost_card"), Category.objects.get(code="pin_locked")
    urgent = Category.objects.get(code="wrong_person_shown")
    Inquiry.objects.create(
        category=lost, question="q", handler=user, status="open", overdue_since=today
    )
    Inquiry.objects.create(category=lost, question="q", handler=user, status="open")
    Inquiry.objects.create(category=lost, question="q", handler=user, status="closed")
    Inquiry.objects.create(category=pin, question="q", handler=user, status="waiting")
    for reviewed, status in ((None, "open"), (timezone.now(), "open"), (timezone.now(), "closed")):
        inquiry = Inquiry.objects.create(
            category=urgent, question="q", handler=user, status="closed"
        )
        Incident.objects.create(
            inquiry=inquiry,
            opened_on=today,
            reviewed_at=reviewed,
            status=status,
            closed_at=timezone.now() if status == "closed" else None,
        )


@pytest.mark.django_db
def test_every_dashboard_number_against_a_hand_count(office, supervisor):
    InsurerFactory()
    today = timezone.localdate()
    make_data(office, supervisor, 1, today)
    JobRun.objects.create(job="nightly", run_date=today, status="succeeded")
    board = dashboard_numbers(today)
    assert [(bar.label, bar.count) for bar in board.flags] == [
        ("資格確認書が必要（マイナンバーカード未取得）", 2),
        ("資格確認書が必要（保険証利用登録なし）", 1),
        ("来月70歳（高齢受給者）", 1),
    ]
    assert board.open_flags_total == 4
    assert [(bar.label, bar.count) for bar in board.issued_this_month] == [
        ("マイナンバーカード未取得", 2),
        ("要配慮者", 1),
    ]
    assert board.expiring == {30: 1, 60: 2, 90: 3}
    assert board.open_lost_cases == 2
    assert [(row["category__name"], row["open"], row["overdue"]) for row in board.inquiries] == [
        ("マイナンバーカードをなくした・盗まれた", 2, 1),
        ("暗証番号がロックされた", 1, 0),
    ]
    assert (board.open_incidents, board.unreviewed_incidents) == (2, 1)
    assert [run.status for run in board.last_runs] == ["succeeded"]
    assert board.flags[0].percent == 100 and board.flags[1].percent == 50


@pytest.mark.django_db
def test_the_index_shows_supervisors_the_dashboard_with_links(
    supervisor_client, supervisor, clerk_client, office
):
    InsurerFactory()
    make_data(office, supervisor, 1, timezone.localdate())
    html = supervisor_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard"' in html and 'id="unreviewed-incidents"' in html
    assert (
        reverse("admin:members_flag_changelist")
        + "?kind__exact=certificate_needed&amp;reason__exact=no_card"
        in html
    )
    assert reverse("admin:certificates_certificate_changelist") + "?within=30" in html
    assert "昨夜から実行されたジョブがありません" in html
    for link in ("?kind__exact=certificate_needed&reason__exact=no_card", "?within=60"):
        target = (
            reverse("admin:members_flag_changelist")
            if "kind" in link
            else reverse("admin:certificates_certificate_changelist")
        )
        assert supervisor_client.get(target + link).status_code == 200
    assert 'id="dashboard"' not in clerk_client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_dashboard_queries_do_not_grow_with_the_data(supervisor_client, supervisor, office):
    InsurerFactory()
    today = timezone.localdate()
    make_data(office, supervisor, 1, today)
    supervisor_client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as small:
        supervisor_client.get(reverse("admin:index"))
    for batch in range(1, 4):
        make_data(office, supervisor, batch * 100, today)
    with CaptureQueriesContext(connection) as large:
        supervisor_client.get(reverse("admin:index"))
    assert len(large) == len(small) <= 20


@pytest.mark.django_db
def test_the_worklist_counts_are_grouped_by_thousands(clerk_client, monkeypatch):
    """A clerk reads 194,453 件 at a glance, not 194453 件."""
    bars = [Bar("資格確認書が必要（マイナンバーカード未取得）", 194_453, "?kind__exact=x")]
    monkeypatch.setattr(insurer.admin_site, "worklist_bars", lambda: _scaled(bars))
    html = clerk_client.get(reverse("admin:index")).content.decode()
    assert "194,453 件" in html and "194453" not in html
