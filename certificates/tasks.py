"""Celery tasks: ids and ISO dates in, one service call, nothing else."""

from datetime import date

from celery import group, shared_task
from django.conf import settings
from django.utils import timezone

from .rendering import PART_MAX_ATTEMPTS, PartWillRetry, batch_part_render, batch_render


@shared_task(name="certificates.render_batch", bind=True)
def render_batch(self, batch_id: int) -> int:
    """Plan the batch's parts and fan them out to every worker, on the queue this task
    came from (so a worker listening on one queue renders the parts too)."""
    queue = (self.request.delivery_info or {}).get("routing_key")

    def dispatch(part_ids: list[int]) -> None:
        options = {"queue": queue} if queue else {}
        group(render_batch_part.s(part_id) for part_id in part_ids).apply_async(**options)

    return batch_render(batch_id=batch_id, dispatch=dispatch).pk


@shared_task(
    name="certificates.render_batch_part",
    autoretry_for=(PartWillRetry,),
    retry_backoff=settings.RENDER_PART_RETRY_SECONDS,  # then twice as long, and so on
    retry_backoff_max=10 * 60,
    retry_jitter=False,
    max_retries=PART_MAX_ATTEMPTS,  # a backstop: the part's own attempts decide first
)
def render_batch_part(part_id: int) -> str:
    return batch_part_render(part_id=part_id).status


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
