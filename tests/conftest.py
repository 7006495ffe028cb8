import os

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from insurer.roles import AUDITOR, CLERK, SUPERVISOR

from .factories import InsurerFactory, OfficeFactory
from .otp import logged_in


def pytest_configure(config) -> None:
    """Where .ci/run promises PostgreSQL and Redis (REQUIRE_SERVICES=1), their absence
    fails the whole run at once: no test is skipped for want of a service."""
    if not os.environ.get("REQUIRE_SERVICES"):
        return
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            f"REQUIRE_SERVICES: DATABASE_URL must name PostgreSQL, not {engine}"
        )
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3).ping()
    except Exception as error:
        raise pytest.UsageError(f"REQUIRE_SERVICES: Redis broker unreachable: {error}") from None


@pytest.fixture(autouse=True)
def admin_imports_run_in_process(monkeypatch) -> None:
    """A confirmed admin import runs where the test is, as it does without a broker: CI
    sets CELERY_BROKER_URL (for the real-worker tests), and no worker consumes it for
    the rest. Tests of the queued run (test_import_runs, the browser's progress page)
    replace `delay` themselves, after this."""
    import insurer.admin_imports

    task = insurer.admin_imports.import_file
    monkeypatch.setattr(task, "delay", lambda *args: task.apply(args=args))


ROLE_USERNAMES = {CLERK: "clerk", SUPERVISOR: "supervisor", AUDITOR: "auditor"}


def make_user(role: str):
    user = get_user_model().objects.create_user(
        username=ROLE_USERNAMES[role], password="x", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def insurer(db):
    return InsurerFactory()


@pytest.fixture
def office(db):
    return OfficeFactory(symbol="1001", name="株式会社サンプル 本社")


@pytest.fixture
def clerk(db):
    return make_user(CLERK)


@pytest.fixture
def supervisor(db):
    return make_user(SUPERVISOR)


@pytest.fixture
def auditor(db):
    return make_user(AUDITOR)


@pytest.fixture
def clerk_client(clerk):
    return logged_in(clerk)


@pytest.fixture
def supervisor_client(supervisor):
    return logged_in(supervisor)


@pytest.fixture
def auditor_client(auditor):
    return logged_in(auditor)


@pytest.fixture(params=[CLERK, SUPERVISOR, AUDITOR])
def role_client(request, db):
    """A logged-in client for each role in turn, with its role name."""
    client = logged_in(make_user(request.param))
    client.role = request.param
    return client
