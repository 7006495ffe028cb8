"""The nightly job against the rules, member by member, and its run discipline."""

import threading
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from insurer.jobs import job_run
from insurer.models import JobRun
from insurer.services import nightly_run
from members.models import Flag, Member, MynaStatus
from members.rules import anniversary, register_flags
from members.selectors import card_status_facts, member_facts
from tests.edge_register import build_edge_register
from tests.factories import MemberFactory, MynaStatusFactory

DATES = [
    date(2026, 11, 21),
    date(2026, 11, 30),
    date(2026, 12, 1),
    date(2027, 2, 28),
    date(2027, 3, 1),
    date(2028, 2, 29),
]


def expected_flags(as_of: date) -> dict[int, set[tuple[str, str]]]:
    members = {m.pk: m for m in Member.objects.all()}
    statuses = {s.member_id: s for s in MynaStatus.objects.all()}
    insured = {(m.office_id, m.number): m for m in members.values() if m.is_insured}
    expected = {}
    for pk, member in members.items():
        head = insured.get((member.office_id, member.number))
        expected[pk] = register_flags(
            member_facts(member),
            None if member.is_insured or head is None else member_facts(head),
            card_status_facts(statuses.get(pk)),
            as_of,
        )
    return expected


def open_flags() -> dict[int, set[tuple[str, str]]]:
    actual: dict[int, set] = {}
    for member_id, kind, reason in Flag.objects.filter(closed_on__isnull=True).values_list(
        "member_id", "kind", "reason"
    ):
        actual.setdefault(member_id, set()).add((kind, reason))
    return actual


@pytest.mark.django_db
def test_bulk_job_agrees_with_the_rules_for_every_member_on_every_date():
    build_edge_register(DATES)
    total = Member.objects.count()
    assert total > 2000
    seen_kinds = set()
    for as_of in DATES:
        run = nightly_run(run_date=as_of, trigger="test")
        assert run.status == JobRun.Status.SUCCEEDED, run.error
        expected, actual = expected_flags(as_of), open_flags()
        mismatches = [
            (pk, sorted(expected[pk]), sorted(actual.get(pk, set())))
            for pk in expected
            if expected[pk] != actual.get(pk, set())
        ]
        assert mismatches == [], (
            f"{as_of}: {len(mismatches)} of {total} differ, e.g. {mismatches[:5]}"
        )
        seen_kinds |= {flag for flags in expected.values() for flag in flags}
        # AGE-4 was applied: nobody is recorded as a member past their 75th anniversary
        for member in Member.objects.filter(birth_date__lte=date(as_of.year - 75, 12, 31)):
            if member.acquired_on < anniversary(member.birth_date, 75) <= as_of:
                assert member.lost_on is not None and member.lost_on <= anniversary(
                    member.birth_date, 75
                )
    # the generated register exercised every flag and reason this issue computes
    assert {kind for kind, _ in seen_kinds} >= {
        "certificate_needed",
        "registration_overdue",
        "turning_70",
        "turning_75",
    }
    assert {reason for kind, reason in seen_kinds if kind == "certificate_needed"} == {
        "no_card",
        "not_registered",
        "deregistered",
        "ecert_expired",
        "card_returned",
    }
    assert Flag.objects.filter(closed_on__isnull=False).exists()  # flags also closed on the way


@pytest.mark.django_db
def test_flags_keep_their_dates_and_close_when_the_condition_ends(office):
    member = MemberFactory(office=office, number="1")
    status = MynaStatusFactory(member=member, card="held", registration="unregistered")
    nightly_run(run_date=date(2026, 11, 1), trigger="test")
    nightly_run(run_date=date(2026, 11, 2), trigger="test")
    flag = Flag.objects.get(member=member)
    assert (flag.kind, flag.reason, flag.opened_on, flag.closed_on) == (
        "certificate_needed",
        "not_registered",
        date(2026, 11, 1),
        None,
    )
    status.registration = "registered"
    status.save()
    nightly_run(run_date=date(2026, 11, 3), trigger="test")
    flag.refresh_from_db()
    assert flag.closed_on == date(2026, 11, 3)
    assert flag.closed_by.run_date == date(2026, 11, 3)
    status.registration = "deregistered"
    status.save()
    nightly_run(run_date=date(2026, 11, 4), trigger="test")
    reopened = Flag.objects.get(member=member, closed_on__isnull=True)
    assert (reopened.reason, reopened.opened_on) == ("deregistered", date(2026, 11, 4))


@pytest.mark.django_db
def test_loss_at_75_writes_history_and_takes_the_dependents(office):
    insured = MemberFactory(office=office, number="1", birth_date=date(1951, 7, 8))
    wife = MemberFactory.dependent_of(insured, birth_date=date(1955, 3, 3))
    nightly_run(run_date=date(2026, 7, 7), trigger="test")
    insured.refresh_from_db()
    assert insured.lost_on is None
    nightly_run(run_date=date(2026, 7, 8), trigger="test")
    insured.refresh_from_db()
    wife.refresh_from_db()
    assert (insured.lost_on, insured.loss_reason) == (date(2026, 7, 8), "late_elderly")
    assert (wife.lost_on, wife.loss_reason) == (date(2026, 7, 8), "insured_lost")
    assert (
        insured.history.latest().history_change_reason
        == "75歳到達により資格喪失（後期高齢者医療へ移行）"
    )
    assert (
        wife.history.latest().history_change_reason == "被保険者の75歳到達により被扶養者の資格喪失"
    )
    nightly_run(run_date=date(2026, 7, 9), trigger="test")
    assert insured.history.count() == 2  # not written again


@pytest.mark.django_db
def test_same_date_twice_changes_nothing_and_keeps_one_real_run(office, capsys):
    MynaStatusFactory(
        member=MemberFactory(office=office, number="1"), card="none", registration="unregistered"
    )
    out = StringIO()
    call_command("run_nightly", "--date", "2026-11-21", stdout=out)
    before = list(Flag.objects.values_list("pk", "kind", "reason", "opened_on", "closed_on"))
    call_command("run_nightly", "--date", "2026-11-21", stdout=out)
    call_command("run_nightly", "--date", "2026-11-21", "--force", stdout=out)
    assert (
        list(Flag.objects.values_list("pk", "kind", "reason", "opened_on", "closed_on")) == before
    )
    runs = JobRun.objects.filter(run_date=date(2026, 11, 21)).order_by("pk")
    assert [r.status for r in runs] == ["succeeded", "skipped", "rerun"]
    assert runs.last().counts["opened"] == {} and runs.last().counts["closed"] == {}
    assert "資格確認書が必要" in out.getvalue()


@pytest.mark.django_db
def test_a_run_that_fails_half_way_leaves_nothing(office, monkeypatch):
    insured = MemberFactory(office=office, number="1", birth_date=date(1951, 7, 8))
    MynaStatusFactory(member=insured, card="none", registration="unregistered")

    def broken(*, as_of):
        raise RuntimeError("プリンタが応答しません")

    monkeypatch.setattr("insurer.services.certificates_expire", broken)
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("run_nightly", "--date", "2026-07-08", stdout=out, stderr=err)
    assert exit_info.value.code == 1
    insured.refresh_from_db()
    assert insured.lost_on is None  # the loss at 75 of the same run was rolled back
    assert not Flag.objects.exists()
    run = JobRun.objects.get()
    assert run.status == "failed" and "プリンタが応答しません" in run.error
    monkeypatch.undo()
    assert (
        nightly_run(run_date=date(2026, 7, 8), trigger="test").status == "succeeded"
    )  # lock released


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_do_not_both_do_the_work():
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_work(run):
        calls.append(run.pk)
        started.set()
        assert release.wait(10)
        return {}

    results = {}

    def first():
        try:
            results["first"] = job_run(
                job="nightly", run_date=date(2026, 11, 21), trigger="a", work=slow_work
            )
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    second = job_run(job="nightly", run_date=date(2026, 11, 21), trigger="b", work=slow_work)
    release.set()
    thread.join(10)
    assert second.status == "skipped"
    assert results["first"].status == "succeeded"
    assert len(calls) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["run_nightly", "issue_certificates"])
@pytest.mark.parametrize("value", ["2026-13-01", "21/11/2026"])
def test_job_commands_refuse_a_bad_date_in_japanese(command, value):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command(command, "--date", value, stdout=StringIO())
    assert not JobRun.objects.exists()
