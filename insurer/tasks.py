"""Celery tasks: ISO dates in, one service call, nothing else."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from .imports.runs import import_run_execute
from .services import nightly_run


@shared_task(name="insurer.run_nightly")
def run_nightly(run_date: str | None = None, force: bool = False) -> dict:
    """The nightly jobs for `run_date` (default: today in Asia/Tokyo)."""
    day = date.fromisoformat(run_date) if run_date else timezone.localdate()
    run = nightly_run(run_date=day, trigger="celery", force=force)
    return {"job_run": run.pk, "status": run.status}


@shared_task(name="insurer.import_file")
def import_file(run_id: int) -> dict:
    """A confirmed admin import (insurer.imports.runs), in the background."""
    run = import_run_execute(run_id=run_id)
    return {"import_run": run.pk, "status": run.status}
