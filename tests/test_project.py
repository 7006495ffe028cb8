"""The project shell: settings, CI services, README commands (the compose file and the
production shape: tests/test_production.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_settings_follow_the_brief():
    assert settings.LANGUAGE_CODE == "ja"
    assert settings.TIME_ZONE == "Asia/Tokyo"
    assert settings.INSTALLED_APPS.index("insurer") < settings.INSTALLED_APPS.index("import_export")


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "insurer.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE": "1",
        "DJANGO_SECRET_KEY": "p" * 20 + "x7#Qz!v9@Lm2$Rk8^Wn4&Tb6*Yc1(Hd3)Jf5",
        "DJANGO_ALLOWED_HOSTS": "kenpo.example.jp",
        "MY_NUMBER_KEYS": "Kq3u1kS8oCkq3rWcB2v8r3pX0xM1l6yF4d9Q2nJ7sTc=",
        "MY_NUMBER_HASH_KEY": "hash-key-for-the-deploy-check-only",
        # A database of its own: the vault's system check reads it (an empty one passes).
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy-check.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_development_vault_keys():
    """Outside DEBUG the settings refuse to load without keys (tests/test_keys.py); a DEBUG
    settings file deployed by mistake is caught by the deploy check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MY_NUMBER")}
    env.update(
        DJANGO_SETTINGS_MODULE="insurer.settings",
        DJANGO_DEBUG="1",
        DJANGO_SECURE="1",
        DJANGO_SECRET_KEY="p" * 20 + "x7#Qz!v9@Lm2$Rk8^Wn4&Tb6*Yc1(Hd3)Jf5",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "members.E001" in result.stdout + result.stderr


def test_readme_names_the_two_commands_and_ci_calls_make_test():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_login_locks_out_after_repeated_failures(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    get_user_model().objects.create_user(username="clerk", password="correct-horse", is_staff=True)
    client = Client()
    codes = [
        client.post("/admin/login/", {"username": "clerk", "password": "wrong"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = client.post("/admin/login/", {"username": "clerk", "password": "correct-horse"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_make_run_prints_the_logins_last_on_the_chosen_port():
    """`make run`: the demo logins are printed just before the server starts (not
    scrolled away), and PORT= moves both the server and the printed address."""
    text = (ROOT / "Makefile").read_text()
    run = text.split("\nrun:", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "create_demo_users --port $(PORT)" in run[-2]
    assert run[-1].strip().endswith("runserver 127.0.0.1:$(PORT)")
    assert re.search(r"^PORT \?= 8000$", text, re.M)


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert (
        client.get(response["Location"]).status_code == 200
        or settings.STATIC_URL in (response["Location"])
    )
    login = client.get("/admin/login/").content.decode()
    assert 'rel="icon"' in login and "insurer/favicon.svg" in login


def test_no_language_negotiation(client, db):
    """A Japanese office: an English browser still gets Japanese."""
    assert "django.middleware.locale.LocaleMiddleware" not in settings.MIDDLEWARE
    page = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="ja"' in page and "ユーザー名" in page
