"""A batch rendered in parts by real worker processes (issue 11, item 2): one prefork
worker with two pool processes on the Redis broker and the PostgreSQL test database, as
in test_celery_worker.py. The parts are rendered by both processes, a part whose first
attempt fails is retried by Celery after its wait, the batch becomes `rendered` exactly
once, and every certificate is printed exactly once across the parts' PDFs."""

import time
from collections import Counter
from pathlib import Path

import pytest

from certificates.models import IssueBatch
from certificates.rendering import RENDER_DONE, TEST_FAIL_ENV
from certificates.tasks import render_batch
from tests.certificates.render_register import issue_batch, multi_office_register, printed_names
from tests.insurer.test_celery_worker import needs_services
from tests.processes import celery_worker, child_env

ROOT = Path(__file__).resolve().parents[2]
# Eight offices, 34 certificates; at 4 documents a part: 9 parts for two processes.
OFFICES = {str(2001 + n): size for n, size in enumerate((3, 5, 1, 2, 4, 2, 3, 3))}


@pytest.fixture
def two_process_worker(transactional_db, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    settings.RENDER_PART_SIZE = 4
    env = child_env(
        PRIVATE_FILES_ROOT=str(settings.PRIVATE_FILES_ROOT),
        RENDER_PART_SIZE="4",
        RENDER_PART_RETRY_SECONDS="1",
        **{TEST_FAIL_ENV: "2:1"},  # part 2 fails on its first attempt
    )
    with celery_worker(pool="prefork", concurrency=2, env=env) as (queue, process):
        yield queue, process


@needs_services
def test_two_worker_processes_render_the_parts_of_a_batch(two_process_worker, monkeypatch):
    queue, process = two_process_worker
    names = multi_office_register(OFFICES)
    batch = issue_batch(monkeypatch)
    render_batch.apply_async(args=[batch.pk], queue=queue)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.status in ("rendered", "failed"):
            break
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.5)
    else:
        pytest.fail("the workers did not render the batch within 120 seconds")
    assert batch.status == "rendered", batch.error
    time.sleep(1)  # a late duplicate would finish it a second time now, if it could
    reasons = batch.history.values_list("history_change_reason", flat=True)
    assert list(reasons).count(RENDER_DONE) == 1

    parts = list(batch.parts.order_by("sequence"))
    assert len(parts) == 9 and all(part.status == "rendered" for part in parts)
    processes = {part.rendered_by for part in parts}
    assert len(processes) >= 2, processes  # spread over both pool processes
    retried = batch.parts.get(sequence=2)
    assert retried.attempts == 2 and "テストの失敗（1回目）" not in retried.error
    assert {part.attempts for part in parts if part.sequence != 2} == {1}

    printed = sum((printed_names(part.pdf.read()) for part in parts), Counter())
    assert printed == Counter(names)  # every certificate exactly once, across the parts
    mailing = batch.mailing_csv.read().decode("utf-8-sig").splitlines()
    assert len(mailing) == 1 + len(names)
    assert IssueBatch.objects.get(pk=batch.pk).progress == 100
