"""Issue 11: with 20 clerks on the 2-core machine while the batch runs, the web server
comes first: batch processes lower their CPU priority, web connections stop a statement
after WEB_STATEMENT_TIMEOUT, gunicorn serves with threads and kept connections."""

import os
import runpy
import weakref

import pytest
from celery import signals
from django.core.management import call_command
from django.db import connection

from insurer import priority
from insurer.web import set_statement_timeout
from tests.production import ROOT


def receivers(signal) -> list:
    """The functions connected to a Django or Celery signal (weak references resolved)."""
    found = []
    for entry in signal.receivers:
        ref = entry[1]
        found.append(ref() if isinstance(ref, weakref.ReferenceType) else ref)
    return found


@pytest.fixture
def niceness(monkeypatch):
    """os.getpriority / os.setpriority of a pretend process (the test run keeps its own)."""
    state = {"value": 0, "set": []}

    def setpriority(which, who, value):
        assert (which, who) == (os.PRIO_PROCESS, 0)
        state["value"] = value
        state["set"].append(value)

    monkeypatch.setattr(priority.os, "getpriority", lambda which, who: state["value"])
    monkeypatch.setattr(priority.os, "setpriority", setpriority)
    return state


def test_batch_priority_is_lowered_to_the_setting_and_never_raised(settings, niceness):
    settings.JOB_NICENESS = 10
    assert priority.batch_priority_lower() == 10
    assert priority.batch_priority_lower() == 10  # already there: nothing more
    assert niceness["set"] == [10]
    niceness["value"] = 15  # started nicer (e.g. under `nice -n 15`): stays so
    assert priority.batch_priority_lower() == 15
    settings.JOB_NICENESS = 0
    niceness["value"] = 0
    assert priority.batch_priority_lower() == 0
    assert niceness["set"] == [10]


@pytest.mark.django_db
def test_the_job_commands_run_at_job_niceness(settings, niceness, insurer):
    settings.JOB_NICENESS = 10
    call_command("run_nightly", "--date", "2026-11-21")
    assert niceness["set"] == [10]
    call_command("issue_certificates", "--date", "2026-11-21")
    assert niceness["value"] == 10


def test_the_celery_worker_lowers_its_priority_before_its_pool_starts(settings, niceness):
    settings.JOB_NICENESS = 10
    assert priority.lower_worker_priority in receivers(signals.worker_init)
    priority.lower_worker_priority(sender=None)  # as the signal calls it
    assert niceness["value"] == 10


@pytest.mark.django_db
def test_web_connections_stop_a_statement_after_the_timeout(settings):
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's (CI runs on PostgreSQL)")
    settings.WEB_STATEMENT_TIMEOUT = 7
    set_statement_timeout(connection=connection)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "7s"
    settings.WEB_STATEMENT_TIMEOUT = 0  # turned off: the connection is left alone
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    set_statement_timeout(connection=connection)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.django_db  # importing the wsgi module checks the vault's hash key
def test_only_the_wsgi_application_sets_the_statement_timeout():
    from django.db.backends.signals import connection_created

    import insurer.wsgi  # noqa: F401  (what gunicorn loads)

    assert set_statement_timeout in receivers(connection_created)
    for module in ("celery.py", "settings.py", "management/job_command.py"):
        assert "statement_timeout" not in (ROOT / "insurer" / module).read_text(), module


def test_gunicorn_serves_with_threads_and_keeps_database_connections(monkeypatch):
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread"
    assert config["threads"] >= 2
    assert os.environ["DB_CONN_MAX_AGE"] == "60"
    monkeypatch.setenv("DB_CONN_MAX_AGE", "0")  # an operator's choice stays theirs
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert os.environ["DB_CONN_MAX_AGE"] == "0"
