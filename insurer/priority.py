"""Batch work yields the CPU to clerks (issue 11).

On the 2-core machine the nightly run, the issuing job and the PDF rendering compete with
gunicorn for the same cores: measured with bench/clerks.py, a trivial admin page went from
a p95 of about 0.2 s to 1.7 s while the batch ran, whatever the page did. The batch has
hours; a clerk on the phone has none. So every process that runs batch work lowers its own
CPU priority to ``JOB_NICENESS`` (Linux ``nice``; default 10, 0 turns it off): the Celery
worker at start (its pool processes inherit it) and the job commands (``run_nightly``,
``issue_certificates``). The web server keeps its normal priority. The database backends
serving the batch are PostgreSQL's processes and keep theirs.
"""

import os

from django.conf import settings


def batch_priority_lower() -> int:
    """Lower this process's CPU priority to settings.JOB_NICENESS; never raise it (an
    unprivileged process could not, and a process started nicer stays nicer). Returns the
    niceness the process now has."""
    target = int(getattr(settings, "JOB_NICENESS", 0))
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if target > current:
        os.setpriority(os.PRIO_PROCESS, 0, target)
        return target
    return current


def lower_worker_priority(**kwargs) -> None:
    """Celery's worker_init: before the pool starts, so every pool process inherits it."""
    batch_priority_lower()
