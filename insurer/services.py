"""Jobs that span the apps: the nightly run, in the order domain.md asks."""

import time
from datetime import date

from django.db import connection

from certificates.services import certificates_expire, lost_card_cases_close_when_usable
from inquiries.services import follow_ups_flag
from members.flags import flags_recompute
from members.services import members_apply_loss_at_75, my_numbers_purge_expired

from .jobs import job_run
from .models import JobRun
from .selectors import insurer_settings_get


class StepTimer:
    """Seconds per step, kept in the JobRun so operators see where a night went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, step, *args, **kwargs):
        started = time.perf_counter()
        result = step(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - started, 3)
        return result


NIGHTLY_WORK_MEM = "64MB"


def nightly_work(run: JobRun) -> dict:
    """For the run's date D, in order: loss at 75, lost-card cases the national data
    closes, the worklist, certificate expiry, overdue follow-ups and unreviewed incidents,
    and My Numbers past their retention period."""
    as_of, timed = run.run_date, StepTimer()
    if connection.vendor == "postgresql":
        # Each step's few statements look expensive to the planner (CASEs, sub-plans), so
        # it would JIT-compile them: more time compiling than running. Off for this run's
        # transaction only.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            # Its joins and groupings hash the whole register: in memory, not in batches
            # spilled to disk (one process, once a night).
            cursor.execute(f"SET LOCAL work_mem = '{NIGHTLY_WORK_MEM}'")
    lost = timed("loss_at_75", members_apply_loss_at_75, as_of=as_of)
    cases = timed("lost_card_cases_closed", lost_card_cases_close_when_usable, as_of=as_of)
    flags = timed("flags", flags_recompute, as_of=as_of, run=run)
    expired = timed("certificates_expired", certificates_expire, as_of=as_of)
    follow_ups = timed("follow_ups", follow_ups_flag, as_of=as_of)
    purged = timed(
        "my_numbers_deleted",
        my_numbers_purge_expired,
        as_of=as_of,
        retention_years=insurer_settings_get().my_number_retention_years,
    )
    return {
        "loss_at_75": lost,
        "lost_card_cases_closed": cases,
        **flags,
        "certificates_expired": expired,
        **follow_ups,
        "my_numbers_deleted": purged,
        "seconds": timed.seconds,
    }


def nightly_run(*, run_date: date, trigger: str, force: bool = False) -> JobRun:
    """Every nightly job for `run_date`, under the job lock, all or nothing."""
    return job_run(
        job=JobRun.Job.NIGHTLY, run_date=run_date, trigger=trigger, work=nightly_work, force=force
    )
