"""Browser tests: real Chromium (Debian's, driven by Playwright) against Django's live
server, doing what a person does — by labels and button text.

One browser for these tests, a fresh context (cookies) per test. The browser asks for
English on purpose: every page must still be Japanese. A failing test leaves a
screenshot in tmp/artifacts/. Chromium missing is a failure, never a skip (.ci/run
installs it).
"""

import os
from pathlib import Path

import pytest
from django.utils import timezone

from insurer.logins import otp_required
from tests.otp import totp_token
from tests.scenario import PASSWORD, Register, build_register

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
TIMEOUT_MS = 15_000


# Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to
# be called from it. Allowed from each browser test's setup to the end of its teardown
# (the database flush) only: left set, it would leak into the `check --deploy`
# subprocess of a later test, which rightly refuses it.
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    os.environ[ASYNC_UNSAFE] = "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        os.environ.pop(ASYNC_UNSAFE, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests. Package scope, not session: Playwright's loop
    must stop when they end, or every later test's ORM call would meet it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
        accept_downloads=True,
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def register(transactional_db, live_server, settings, tmp_path) -> Register:
    """The scenario register, committed so the live server sees it. Batch rendering runs
    in-process (no worker here), as it does in `make run`."""
    from insurer.celery import app

    settings.PRIVATE_FILES_ROOT = tmp_path
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield build_register(timezone.localdate())
    app.conf.task_always_eager = eager


def browser_login(page, user) -> None:
    """Log in the way a person does. The one place every browser test logs in: 管理者 and
    監査 also type the 確認コード of their authenticator app (TOTP, issue 9)."""
    page.goto("/admin/login/")
    page.get_by_label("ユーザー名").fill(user.get_username())
    page.get_by_label("パスワード").fill(PASSWORD)
    if otp_required(user):
        page.get_by_label("確認コード").fill(totp_token(user))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url("**/admin/")
