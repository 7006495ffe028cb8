"""A lock held by someone else: a live worker, as another thread with its own database
connection (on SQLite: its own open file), for the duration of a block."""

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection

from insurer.jobs import advisory_lock


@contextlib.contextmanager
def held_elsewhere(kind: str, number: int = 0) -> Iterator[None]:
    """insurer.jobs.advisory_lock(kind, number), taken by another connection and held
    until the block ends."""
    taken, release = threading.Event(), threading.Event()
    outcome = {}

    def hold() -> None:
        try:
            with advisory_lock(kind, number) as held:
                outcome["held"] = held
                taken.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10) and outcome["held"], f"could not take the lock {kind} {number}"
    try:
        yield
    finally:
        release.set()
        thread.join(10)
