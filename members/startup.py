"""Start-up refusal for the Celery worker and beat (connected in MembersConfig.ready)."""

import logging

from .vault import hash_key_problem_at_start

logger = logging.getLogger(__name__)


def refuse_changed_hash_key(**kwargs) -> None:
    problem = hash_key_problem_at_start()
    if problem:
        logger.critical(problem)  # Celery's log, or stderr when none is set up
        # Celery logs and swallows an exception from a signal handler; SystemExit is not
        # swallowed, so the worker or beat really stops.
        raise SystemExit(1)
