"""Running the real `manage.py` in a child process against the test database.

For faults that only show at the process boundary: the exit code, what reaches the
terminal, a process killed mid-run. Tests using it need `transactional_db` (the child
sees only committed rows).
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


# A child process cannot see an in-memory SQLite test database. .ci/run (REQUIRE_SERVICES)
# always has PostgreSQL, so there these tests always run; conftest fails the run otherwise.
needs_postgres = pytest.mark.skipif(
    not os.environ.get("REQUIRE_SERVICES")
    and "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="a child process needs a database it can share (PostgreSQL, always under .ci/run)",
)


def database_url() -> str:
    """The test database as a DATABASE_URL for a child process."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "insurer.settings",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage_popen(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def celery_worker(
    *,
    pool: str = "solo",
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    queues: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `celery worker` on a queue of its own (yielded with the process), against
    the test database and the broker of the settings; stopped afterwards. With `queues`
    (suffixes) it reads "<queue>-<suffix>" for each instead."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    names = ",".join(f"{queue}-{suffix}" for suffix in queues) or queue
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "insurer", "worker", "--pool", pool),
            *("--concurrency", str(concurrency), "--loglevel", "WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", names),
        ],
        cwd=ROOT,
        env=env if env is not None else child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield queue, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
