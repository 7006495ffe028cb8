"""The job lock dies with its holder (issue 9, item 3).

Before: after `kill -9` of run_nightly every run for six hours recorded 見送り and exited
0, and issuing ran on stale flags while the nightly was locked, recording 完了 with no
certificate. Now a killed run is taken over at once, a run that finds the lock held
exits 3, and issuing for D refuses (exit 4) until the nightly run of D has succeeded.
"""

import signal
import time
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from certificates.issuing import certificates_issue_run
from certificates.models import Certificate
from insurer.jobs import ABANDONED, ABANDONED_RESUMABLE, TEST_PAUSE_ENV
from insurer.models import JobRun
from insurer.services import nightly_run
from members.models import Flag
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory
from tests.locks import held_elsewhere
from tests.processes import manage, manage_popen, needs_postgres

D = date(2026, 11, 21)


def run_command(name: str, *args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def register(db):
    InsurerFactory()
    member = MemberFactory(office=OfficeFactory(symbol="1001"), number="1")
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    return member


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_the_lock_held_is_recorded_and_exits_3(register):
    with held_elsewhere("job:nightly"):
        run = nightly_run(run_date=D, trigger="test")
        code, output = run_command("run_nightly", "--date", D.isoformat())
    assert (run.status, run.note, run.skip_reason) == (
        "skipped",
        "同じ処理が実行中のため見送りました。",
        "locked",
    )
    assert code == 3
    assert "同じ処理が実行中のため見送りました" in output
    assert not Flag.objects.exists()
    # once the holder is gone, the next run works
    assert run_command("run_nightly", "--date", D.isoformat())[0] == 0
    assert Flag.objects.exists()


@pytest.mark.django_db
def test_a_running_row_whose_holder_is_gone_is_taken_over_at_once(register):
    dead = JobRun.objects.create(job="nightly", run_date=D, status="running")
    run = nightly_run(run_date=D, trigger="test")
    assert run.status == "succeeded"
    dead.refresh_from_db()
    assert (dead.status, dead.error) == ("failed", ABANDONED)


@pytest.mark.django_db
def test_already_done_is_not_an_error(register):
    assert run_command("run_nightly", "--date", D.isoformat())[0] == 0
    code, output = run_command("run_nightly", "--date", D.isoformat())
    assert code == 0 and "実施済み" in output


@pytest.mark.django_db
def test_issuing_refuses_without_a_successful_nightly_run_of_its_day(register):
    code, output = run_command("issue_certificates", "--date", D.isoformat())
    assert code == 4
    assert "2026-11-21 の夜間処理が完了していないため、実行しませんでした。" in output
    assert not Certificate.objects.exists()
    run = JobRun.objects.get(job="issue_certificates")
    assert run.status == "skipped"
    nightly_run(run_date=D, trigger="test")
    assert run_command("issue_certificates", "--date", D.isoformat())[0] == 0
    assert Certificate.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_issuing_does_not_run_while_the_nightly_lock_is_held(register):
    nightly_run(run_date=D, trigger="test")
    with held_elsewhere("job:nightly"):  # e.g. a forced re-run of the nightly
        code, output = run_command("issue_certificates", "--date", D.isoformat())
    assert code == 3, output
    assert not Certificate.objects.exists()
    assert not JobRun.objects.filter(job="issue_certificates", status="succeeded").exists()
    assert certificates_issue_run(run_date=D, trigger="test").status == "succeeded"
    assert Certificate.objects.count() == 1


def wait_for_running_row(process, job: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if JobRun.objects.filter(job=job, status="running").exists():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    pytest.fail(f"{job} did not start within {timeout} s")


@needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("job", ["run_nightly", "issue_certificates"])
def test_kill_9_mid_run_then_the_next_run_takes_over_at_once(register, job):
    if job == "issue_certificates":
        nightly_run(run_date=D, trigger="test")
    name = "nightly" if job == "run_nightly" else "issue_certificates"
    process = manage_popen(job, "--date", D.isoformat(), **{TEST_PAUSE_ENV: "60"})
    try:
        wait_for_running_row(process, name)
        time.sleep(1)  # the work is done, the transaction not yet committed
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=20)
    assert process.returncode == -signal.SIGKILL
    killed = JobRun.objects.get(job=name, status="running")
    # Killed before its (only) commit: the nightly's one transaction, or the issuing run's
    # one chunk (its chunks commit one by one: tests/certificates/test_issuing_resume.py).
    assert not Certificate.objects.exists()
    if name == "nightly":
        assert not Flag.objects.exists()  # the killed run's writes were rolled back

    started = time.monotonic()
    again = manage(job, "--date", D.isoformat(), timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert time.monotonic() - started < 30
    assert "完了" in again.stdout
    killed.refresh_from_db()
    # the issuing run keeps the chunks a dead run committed, and says so
    note = ABANDONED if name == "nightly" else ABANDONED_RESUMABLE
    assert (killed.status, killed.error) == ("failed", note)
    assert JobRun.objects.get(job=name, status="succeeded").run_date == D
    if name == "nightly":
        assert Flag.objects.filter(closed_on__isnull=True).count() == 1
    else:
        assert Certificate.objects.count() == 1


@pytest.mark.django_db
def test_the_beat_issuing_task_retries_while_the_nightly_run_of_its_day_is_missing(register):
    from celery.exceptions import Retry

    from certificates.tasks import issue_certificates

    with pytest.raises(Retry, match="Retry in 600s"):
        issue_certificates.apply(args=[D.isoformat()])
    assert not Certificate.objects.exists()
    nightly_run(run_date=D, trigger="test")
    assert issue_certificates.apply(args=[D.isoformat()]).get()["status"] == "succeeded"
    assert Certificate.objects.count() == 1


@pytest.mark.django_db
def test_celery_gives_up_a_date_whose_runs_keep_dying_and_an_operator_can_still_run_it(register):
    from insurer.jobs import GIVEN_UP

    for _ in range(3):  # three runs of D killed part-way, each marked by its successor
        JobRun.objects.create(job="nightly", run_date=D, status="failed", error=ABANDONED)
    run = nightly_run(run_date=D, trigger="celery")
    assert (run.status, run.note) == ("skipped", GIVEN_UP.format(count=3))
    assert run_command("run_nightly", "--date", D.isoformat())[0] == 0
