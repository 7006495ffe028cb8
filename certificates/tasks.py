"""Celery tasks: ids and ISO dates in, one service call, nothing else."""

from datetime import date

from celery import shared_task
from django.utils import timezone


@shared_task(name="certificates.render_batch")
def render_batch(batch_id: int) -> int:
    from .services import batch_render

    return batch_render(batch_id=batch_id).pk


# The nightly run of the day may still be going (or late): try again for an hour.
NOT_READY_RETRY_SECONDS = 10 * 60


@shared_task(name="certificates.issue_certificates", bind=True, max_retries=6)
def issue_certificates(self, run_date: str | None = None, force: bool = False) -> dict:
    """The scheduled issuing job for `run_date` (default: today in Asia/Tokyo)."""
    from .issuing import certificates_issue_run

    day = date.fromisoformat(run_date) if run_date else timezone.localdate()
    run = certificates_issue_run(run_date=day, trigger="celery", force=force)
    if getattr(run, "skip_reason", "") == "not_ready" and self.request.retries < self.max_retries:
        raise self.retry(args=[day.isoformat(), force], countdown=NOT_READY_RETRY_SECONDS)
    return {"job_run": run.pk, "status": run.status}
