"""Running a scheduled job: the lock, the JobRun record, all-or-nothing work.

The lock dies with its holder. On PostgreSQL it is a session-level advisory lock
(`pg_try_advisory_lock`) held by the connection doing the work: a process that is killed
loses its connection and with it the lock, so the next run takes over at once and marks
the JobRun the dead one left `running` as failed. On SQLite (one development machine)
it is an exclusive `flock` on a file beside the database, which the operating system
releases when the process ends. The database also allows only one `running` row per job.

The work runs in one transaction: a failure or a kill leaves no half-applied state, only
the failed JobRun with its error — unless the job is `chunked` (the issuing job): its work
commits chunk by chunk itself, each chunk whole or not at all, and is written so that the
next run carries on where a dead or failed one stopped (what is committed is kept). A run that finds the lock held records 見送り with
`skip_reason` "locked"; the commands exit with LOCKED_EXIT_CODE for it.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .masking import mask_digit_runs
from .models import JobRun

logger = logging.getLogger(__name__)

# Exit codes of run_nightly / issue_certificates (README "The nightly jobs").
FAILED_EXIT_CODE = 1
LOCKED_EXIT_CODE = 3
NOT_READY_EXIT_CODE = 4

ALREADY_DONE = "この処理日は実施済みです（--force で変更がないことを確認できます）。"
LOCKED = "同じ処理が実行中のため見送りました。"
ABANDONED = (
    "処理が途中で止まりました（プロセスの強制終了など）。変更は取り消されています。"
    "次の実行が引き継ぎました。"
)
ABANDONED_RESUMABLE = (
    "処理が途中で止まりました（プロセスの強制終了など）。完了した分は保存されています。"
    "次の実行が残りを引き継ぎました。"
)
NOT_READY = "{day} の{job}が完了していないため、実行しませんでした。"
# A holder killed a moment ago may still hold its lock until the database notices.
LOCK_WAIT_SECONDS = 3.0
# A job that died this often for one date is not started again by Celery (a task that
# kills its worker every time would otherwise be delivered again and again); an operator
# runs it with the command after looking.
MAX_TAKEOVERS = 3
GIVEN_UP = (
    "この処理日は{count}回続けて途中で止まったため、自動では再実行しません。"
    "原因を確認してからコマンドで実行してください。"
)

# For the tests that kill a run mid-way: seconds to wait inside the work's transaction,
# after the work and before the commit (a chunked job: before each chunk's commit). Never
# set outside those tests.
TEST_PAUSE_ENV = "INSURER_TEST_JOB_PAUSE"


def pause_for_tests() -> None:
    """Sleep TEST_PAUSE_ENV seconds (only the kill tests set it)."""
    pause = float(os.environ.get(TEST_PAUSE_ENV) or 0)
    if pause:
        time.sleep(pause)


Work = Callable[[JobRun], dict]


def _advisory_key(kind: str, number: int) -> tuple[int, int]:
    """pg_try_advisory_lock's two-integer form: (a stable id for `kind`, `number`)."""
    return zlib.crc32(f"insurer:{kind}".encode()) & 0x7FFFFFFF, number


@contextlib.contextmanager
def advisory_lock(kind: str, number: int = 0) -> Iterator[bool]:
    """Try to take the lock (`kind`, `number`); yields whether it was taken. It is held
    until the block ends or the process dies, whichever comes first."""
    if connection.vendor != "postgresql":
        with _file_lock(kind, number) as taken:
            yield taken
        return
    key = _advisory_key(kind, number)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except Exception:  # the connection is gone, and the lock with it
                logger.warning("could not release the lock %s %s", kind, number, exc_info=True)


@contextlib.contextmanager
def _file_lock(kind: str, number: int) -> Iterator[bool]:
    database = hashlib.sha256(str(connection.settings_dict["NAME"]).encode()).hexdigest()[:12]
    name = f"insurer-lock-{database}-{kind.replace(':', '-')}-{number}"
    with open(os.path.join(tempfile.gettempdir(), name), "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.contextmanager
def advisory_locks(kinds: tuple[str, ...], *, wait: float = 0.0) -> Iterator[bool]:
    """All of `kinds` (in this order) or none, trying for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        with contextlib.ExitStack() as stack:
            if all(stack.enter_context(advisory_lock(kind)) for kind in kinds):
                yield True
                return
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(0.25)


def _finish(run: JobRun, **fields) -> JobRun:
    for name, value in fields.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.save()
    return run


def _record_skip(*, job: str, run_date: date, trigger: str, note: str, reason: str) -> JobRun:
    run = JobRun.objects.create(
        job=job, run_date=run_date, status=JobRun.Status.SKIPPED, trigger=trigger, note=note
    )
    run = _finish(run)
    run.skip_reason = reason
    return run


def _release_abandoned(job: str, note: str) -> None:
    """With the job's lock held, every other `running` row of the job is dead: its
    holder would still hold the lock. Mark them failed."""
    JobRun.objects.filter(job=job, status=JobRun.Status.RUNNING).update(
        status=JobRun.Status.FAILED, error=note, finished_at=timezone.now()
    )


def _start(*, job: str, run_date: date, trigger: str, chunked: bool = False) -> JobRun | None:
    _release_abandoned(job, ABANDONED_RESUMABLE if chunked else ABANDONED)
    try:
        with transaction.atomic():
            return JobRun.objects.create(
                job=job, run_date=run_date, status=JobRun.Status.RUNNING, trigger=trigger
            )
    except IntegrityError:
        return None


def _succeeded(job: str, run_date: date) -> bool:
    return JobRun.objects.filter(
        job=job, run_date=run_date, status=JobRun.Status.SUCCEEDED
    ).exists()


def job_run(
    *,
    job: str,
    run_date: date,
    trigger: str,
    work: Work,
    force: bool = False,
    requires: str | None = None,
    excludes: tuple[str, ...] = (),
    chunked: bool = False,
) -> JobRun:
    """Run `work` for `run_date` unless it is done already or running elsewhere.

        `requires`: a job that must have succeeded for `run_date` first (issuing needs the
        nightly run of its day). `excludes`: jobs that must not run meanwhile (their locks
        are held too). `chunked`: the work commits its own chunks and resumes what a dead run
    left (no transaction is opened around it; a dead run's row says its work was kept).

        Returns the JobRun: succeeded (the real run for the date), rerun (forced repeat of a
        date already done; nothing should change), skipped (`skip_reason` "done", "locked",
        "not_ready", or "given_up" for Celery after MAX_TAKEOVERS deaths), or failed (the work raised; nothing it did is kept).
    """
    skip = {"job": job, "run_date": run_date, "trigger": trigger}
    if _succeeded(job, run_date) and not force:
        return _record_skip(**skip, note=ALREADY_DONE, reason="done")
    if requires and not _succeeded(requires, run_date):
        label = JobRun.Job(requires).label
        note = NOT_READY.format(day=run_date.isoformat(), job=label)
        return _record_skip(**skip, note=note, reason="not_ready")
    if trigger == "celery":
        died = JobRun.objects.filter(
            job=job, run_date=run_date, error__in=(ABANDONED, ABANDONED_RESUMABLE)
        ).count()
        if died >= MAX_TAKEOVERS:
            return _record_skip(**skip, note=GIVEN_UP.format(count=died), reason="given_up")
    kinds = (f"job:{job}", *(f"job:{name}" for name in excludes))
    with advisory_locks(kinds, wait=LOCK_WAIT_SECONDS) as locked:
        done_before = _succeeded(job, run_date)
        if locked and done_before and not force:  # the holder we waited for finished it
            return _record_skip(**skip, note=ALREADY_DONE, reason="done")
        run = (
            _start(job=job, run_date=run_date, trigger=trigger, chunked=chunked) if locked else None
        )
        if run is None:
            return _record_skip(**skip, note=LOCKED, reason="locked")
        try:
            if chunked:
                counts = work(run)
            else:
                with transaction.atomic():
                    counts = work(run)
                    pause_for_tests()
        except Exception as error:
            logger.exception("job %s for %s failed", job, run_date)
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            detail = mask_digit_runs(detail)  # a database's DETAIL may quote values
            return _finish(run, status=JobRun.Status.FAILED, error=detail)
        status = JobRun.Status.RERUN if done_before else JobRun.Status.SUCCEEDED
        return _finish(run, status=status, counts=counts)
