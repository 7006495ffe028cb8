"""A Celery pool child killed mid-task: the task goes back to the queue and completes
(issue 9, item 3). Before: the message was acknowledged and lost (WorkerLostError).
An import it was running is marked failed instead, nothing of it written.

A real worker (prefork, one child) on the Redis broker and the PostgreSQL test database,
as in test_celery_worker.py.
"""

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from insurer.imports import EncryptedTempStorage
from insurer.imports.runs import ABANDONED as IMPORT_ABANDONED
from insurer.jobs import ABANDONED, TEST_PAUSE_ENV
from insurer.models import ImportRun, JobRun
from insurer.tasks import import_file, run_nightly
from members.models import Flag, Member
from tests.factories import MemberFactory, MynaStatusFactory
from tests.importing import MEMBER_HEADER, member_line, recorded_import_run
from tests.insurer.test_celery_worker import needs_services
from tests.processes import celery_worker, child_env

ROOT = Path(__file__).resolve().parents[2]
D = date(2026, 11, 21)


def pool_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def prefork_worker(transactional_db):
    with celery_worker(pool="prefork", env=child_env(**{TEST_PAUSE_ENV: "8"})) as (
        queue,
        process,
    ):
        yield queue, process


def wait_for(condition, process, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the worker exited: {process.stdout.read()}")
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds} s")


@needs_services
def test_a_killed_pool_child_gives_the_task_back_and_it_completes(prefork_worker, office):
    queue, process = prefork_worker
    member = MemberFactory(office=office, number="1")
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    run_nightly.apply_async(args=[D.isoformat()], queue=queue)

    killed = wait_for(
        lambda: JobRun.objects.filter(job="nightly", status="running").first(),
        process,
        60,
        "the task did not start",
    )
    children = pool_children(process.pid)
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGKILL)

    done = wait_for(
        lambda: JobRun.objects.filter(job="nightly", status="succeeded").first(),
        process,
        60,
        "the task was not delivered again and completed",
    )
    assert (done.run_date, done.trigger) == (D, "celery")
    killed.refresh_from_db()
    assert (killed.status, killed.error) == ("failed", ABANDONED)
    assert Flag.objects.filter(member=member, closed_on__isnull=True).count() == 1
    assert not JobRun.objects.filter(job="nightly", status="skipped").exists()


@needs_services
def test_an_import_whose_worker_is_killed_is_marked_failed_and_writes_nothing(
    transactional_db, settings, office
):
    """The pool child dies while the import is 取込中: the task comes back, finds the run
    abandoned (its lock is free) and marks it failed in Japanese; the upload is removed."""
    run = recorded_import_run([MEMBER_HEADER, member_line(my_number="983205673214")])
    upload = EncryptedTempStorage(name=run.upload_name).get_full_path()
    env = child_env(IMPORT_UPLOADS_ROOT=str(settings.IMPORT_UPLOADS_ROOT), **{TEST_PAUSE_ENV: "30"})
    with celery_worker(pool="prefork", env=env) as (queue, process):
        import_file.apply_async(args=[run.pk], queue=queue)
        wait_for(
            lambda: ImportRun.objects.filter(pk=run.pk, status="running").exists(),
            process,
            60,
            "the import did not start",
        )
        [child] = pool_children(process.pid)
        os.kill(child, signal.SIGKILL)
        wait_for(
            lambda: ImportRun.objects.filter(pk=run.pk, status="failed").exists(),
            process,
            60,
            "the task was not delivered again to mark the run",
        )
    run.refresh_from_db()
    assert (run.problems, run.problems_total) == ([IMPORT_ABANDONED], 1)
    assert not Path(upload).exists()
    assert not Member.objects.exists()
