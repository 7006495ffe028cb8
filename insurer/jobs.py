"""Running a scheduled job: the lock, the JobRun record, all-or-nothing work.

The lock is a row: the database lets one run per job be `running` at a time, so two
workers, a beat and a clerk's command can never run the same job at once, on any number
of machines sharing the database. The work runs in one transaction: a failure leaves no
half-applied state, only the failed JobRun with its error.
"""

import logging
import traceback
from collections.abc import Callable
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import JobRun

logger = logging.getLogger(__name__)

# A run still `running` after this long is taken to have died (the process was killed):
# the next run marks it failed and takes over.
LOCK_TIMEOUT = timedelta(hours=6)

ALREADY_DONE = "この処理日は実施済みです（--force で変更がないことを確認できます）。"
LOCKED = "同じ処理が実行中のため見送りました。"
ABANDONED = "ロックの期限切れ: 処理が途中で止まったとみなしました（変更は取り消されています）。"

Work = Callable[[JobRun], dict]


def _finish(run: JobRun, **fields) -> JobRun:
    for name, value in fields.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.save()
    return run


def _record_skip(*, job: str, run_date: date, trigger: str, note: str) -> JobRun:
    run = JobRun.objects.create(
        job=job, run_date=run_date, status=JobRun.Status.SKIPPED, trigger=trigger, note=note
    )
    return _finish(run)


def _release_abandoned_lock(job: str) -> None:
    JobRun.objects.filter(
        job=job, status=JobRun.Status.RUNNING, started_at__lt=timezone.now() - LOCK_TIMEOUT
    ).update(status=JobRun.Status.FAILED, error=ABANDONED, finished_at=timezone.now())


def _take_lock(*, job: str, run_date: date, trigger: str) -> JobRun | None:
    _release_abandoned_lock(job)
    try:
        with transaction.atomic():
            return JobRun.objects.create(
                job=job, run_date=run_date, status=JobRun.Status.RUNNING, trigger=trigger
            )
    except IntegrityError:
        return None


def job_run(*, job: str, run_date: date, trigger: str, work: Work, force: bool = False) -> JobRun:
    """Run `work` for `run_date` unless it is done already or running elsewhere.

    Returns the JobRun: succeeded (the real run for the date), rerun (forced repeat of a
    date already done; nothing should change), skipped (done already, or locked), or
    failed (the work raised; nothing it did is kept).
    """
    done = JobRun.objects.filter(job=job, run_date=run_date, status=JobRun.Status.SUCCEEDED)
    if done.exists() and not force:
        return _record_skip(job=job, run_date=run_date, trigger=trigger, note=ALREADY_DONE)
    run = _take_lock(job=job, run_date=run_date, trigger=trigger)
    if run is None:
        return _record_skip(job=job, run_date=run_date, trigger=trigger, note=LOCKED)
    try:
        with transaction.atomic():
            counts = work(run)
    except Exception as error:
        logger.exception("job %s for %s failed", job, run_date)
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return _finish(run, status=JobRun.Status.FAILED, error=detail)
    status = JobRun.Status.RERUN if done.exists() else JobRun.Status.SUCCEEDED
    return _finish(run, status=status, counts=counts)
