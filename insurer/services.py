"""Jobs that span the apps: the nightly run, in the order domain.md asks."""

from datetime import date

from certificates.services import certificates_expire
from members.flags import flags_recompute
from members.services import members_apply_loss_at_75

from .jobs import job_run
from .models import JobRun


def nightly_work(run: JobRun) -> dict:
    """For the run's date D, in order: loss at 75, the worklist, certificate expiry."""
    as_of = run.run_date
    lost = members_apply_loss_at_75(as_of=as_of)
    flags = flags_recompute(as_of=as_of, run=run)
    expired = certificates_expire(as_of=as_of)
    return {"loss_at_75": lost, **flags, "certificates_expired": expired}


def nightly_run(*, run_date: date, trigger: str, force: bool = False) -> JobRun:
    """Every nightly job for `run_date`, under the job lock, all or nothing."""
    return job_run(
        job=JobRun.Job.NIGHTLY, run_date=run_date, trigger=trigger, work=nightly_work, force=force
    )
