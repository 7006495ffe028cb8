"""The Celery app. Tasks live in each app's tasks.py; the beat schedule is in code."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")

app = Celery("insurer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def nightly_schedule(at: str) -> crontab:
    """`HH:MM` in the Celery timezone (Asia/Tokyo)."""
    hour, minute = (int(part) for part in at.split(":"))
    return crontab(hour=hour, minute=minute)


# Exactly one beat runs this (docker-compose.yml); the job lock covers a second one anyway.
app.conf.beat_schedule = {
    "nightly": {
        "task": "insurer.run_nightly",
        "schedule": nightly_schedule(os.environ.get("NIGHTLY_RUN_AT", "02:00")),
    },
    # After the nightly run has refreshed the worklist.
    "issue_certificates": {
        "task": "certificates.issue_certificates",
        "schedule": nightly_schedule(os.environ.get("ISSUE_RUN_AT", "03:30")),
    },
}
