"""A real Celery worker, on the Redis broker and the PostgreSQL test database.

.ci/run promises both services (REQUIRE_SERVICES=1), so there this test always runs;
conftest fails the whole run if either is missing. Only a developer's bare SQLite run
without a broker leaves it out.
"""

import os
import time
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from insurer.models import JobRun
from insurer.tasks import run_nightly
from members.models import Flag
from tests.factories import MemberFactory, MynaStatusFactory
from tests.processes import celery_worker

ROOT = Path(__file__).resolve().parents[2]

needs_services = pytest.mark.skipif(
    not os.environ.get("REQUIRE_SERVICES")
    and (
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or settings.CELERY_TASK_ALWAYS_EAGER
    ),
    reason="needs PostgreSQL and a Redis broker (always present under .ci/run)",
)


@pytest.fixture
def worker(transactional_db):
    with celery_worker() as (queue, process):
        yield queue, process


@needs_services
def test_worker_runs_the_nightly_task_and_writes_flags(worker, office):
    queue, process = worker
    member = MemberFactory(office=office, number="1")
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    run_nightly.apply_async(args=["2026-11-21"], queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = JobRun.objects.filter(run_date=date(2026, 11, 21)).exclude(status="running").first()
        if run is not None:
            break
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.5)
    else:
        pytest.fail("the worker did not finish the nightly task within 60 seconds")
    assert (run.status, run.trigger) == ("succeeded", "celery"), run.error
    flag = Flag.objects.get(member=member)
    assert (flag.kind, flag.reason, flag.opened_on) == (
        "certificate_needed",
        "no_card",
        date(2026, 11, 21),
    )
    assert run.counts["opened"] == {"certificate_needed:no_card": 1}


def test_beat_schedule_runs_the_nightly_task_at_the_configured_time():
    from insurer.celery import app, nightly_schedule

    entry = app.conf.beat_schedule["nightly"]
    assert entry["task"] == run_nightly.name == "insurer.run_nightly"
    schedule = nightly_schedule("02:30")
    assert schedule.hour == {2} and schedule.minute == {30}
    assert app.conf.timezone == "Asia/Tokyo"
