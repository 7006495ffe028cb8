"""Keys fail closed (issue 9): real processes started without, with weak and with good
keys. Outside DEBUG nothing starts without real keys — web (wsgi), Celery, any command —
and a changed hash key stops them until rehash_my_numbers has run."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from insurer.keys import DEVELOPMENT_SECRET_KEY, KeyConfigurationError, load_keys
from members import vault
from members.models import MyNumber, MyNumberHashKey

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "983205673214"
GOOD = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "MY_NUMBER_KEYS": Fernet.generate_key().decode(),
    "MY_NUMBER_HASH_KEY": secrets.token_urlsafe(48),
}
ENTRY_POINTS = {
    "check": [sys.executable, "manage.py", "check"],
    "command": [sys.executable, "manage.py", "run_nightly", "--date", "2026-11-21"],
    "wsgi": [sys.executable, "-c", "import insurer.wsgi"],
    "celery": [sys.executable, "-m", "celery", "-A", "insurer", "report"],
}


def env_without_keys(**values: str) -> dict[str, str]:
    """The test run's environment minus every key (tests/settings.py put some in), on an
    empty database of its own unless told otherwise: a developer's database holding
    another hash key's fingerprint must not decide these tests."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in GOOD and name not in {"DJANGO_DEBUG", "DJANGO_SECURE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "insurer.settings",
            "DJANGO_DEBUG": "0",
            "DATABASE_URL": "sqlite://:memory:",
            **values,
        }
    )
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_nothing_starts_without_keys(entry_point):
    result = run(ENTRY_POINTS[entry_point], env_without_keys())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for name in GOOD:
        assert f"環境変数 {name} が設定されていません" in output, output
    assert "secrets.token_urlsafe" in output  # how to make one


def test_manage_py_says_it_without_a_traceback():
    result = run(ENTRY_POINTS["command"], env_without_keys())
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("起動できません。")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MY_NUMBER_HASH_KEY", "abc", "32文字以上"),
        ("MY_NUMBER_HASH_KEY", "a" * 64, "32文字以上"),
        ("MY_NUMBER_KEYS", "not-a-fernet-key", "Fernet 鍵"),
        ("MY_NUMBER_KEYS", "A" * 43 + "=", "乱数ではありません"),
        ("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY, "公開されている開発用の値"),
        ("DJANGO_SECRET_KEY", "short", "50文字以上"),
    ],
)
def test_weak_keys_are_refused(name, value, expected):
    result = run(ENTRY_POINTS["check"], env_without_keys(**{**GOOD, name: value}))
    assert result.returncode != 0
    assert f"環境変数 {name} の値は使えません" in result.stderr
    assert expected in result.stderr
    assert value not in result.stderr or len(value) < 6  # a key is never echoed


@pytest.mark.parametrize("entry_point", ["check", "wsgi", "celery"])
def test_good_keys_start(entry_point):
    result = run(ENTRY_POINTS[entry_point], env_without_keys(**GOOD))
    assert result.returncode == 0, result.stdout + result.stderr


def test_development_runs_without_keys():
    """`make run` (DJANGO_DEBUG=1) needs no keys: they are derived, for development only."""
    result = run(ENTRY_POINTS["check"], env_without_keys(DJANGO_DEBUG="1"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_published_derived_keys_are_refused_even_when_set_explicitly():
    _, derived, derived_hash = load_keys({}, debug=True)
    with pytest.raises(KeyConfigurationError, match="公開されている開発用の値"):
        load_keys({**GOOD, "MY_NUMBER_KEYS": derived[0]}, debug=False)
    with pytest.raises(KeyConfigurationError, match="公開されている開発用の値"):
        load_keys({**GOOD, "MY_NUMBER_HASH_KEY": derived_hash}, debug=False)


def test_old_keys_follow_the_new_one_and_a_hash_key_may_not_repeat_another_key():
    old = Fernet.generate_key().decode()
    _, keys, _ = load_keys(
        {**GOOD, "MY_NUMBER_KEYS": f"{GOOD['MY_NUMBER_KEYS']}, {old}"}, debug=False
    )
    assert keys == [GOOD["MY_NUMBER_KEYS"], old]
    with pytest.raises(KeyConfigurationError, match="同じ値は使えません"):
        load_keys({**GOOD, "MY_NUMBER_HASH_KEY": GOOD["DJANGO_SECRET_KEY"]}, debug=False)


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.skipif(
    connection.vendor != "postgresql" and not os.environ.get("REQUIRE_SERVICES"),
    reason="the subprocesses share the test database only on PostgreSQL (always under .ci/run)",
)
def test_a_changed_hash_key_stops_every_process_until_the_rehash(transactional_db):
    MyNumberHashKey.objects.create(pk=1, fingerprint=vault.hash_key_fingerprint("the-old-key"))
    env = env_without_keys(**GOOD, DATABASE_URL=database_url(), CELERY_BROKER_URL="memory://")
    worker = [sys.executable, "-m", "celery", "-A", "insurer", "worker", "--pool", "solo"]
    for command in (ENTRY_POINTS["check"], ENTRY_POINTS["wsgi"], worker):
        result = run(command, env)
        assert result.returncode != 0, command
        assert "rehash_my_numbers" in result.stdout + result.stderr, command

    rehash = run([sys.executable, "manage.py", "rehash_my_numbers"], env)
    assert rehash.returncode == 0, rehash.stdout + rehash.stderr
    assert "鍵の指紋を記録しました" in rehash.stdout
    assert MyNumberHashKey.objects.get().fingerprint == vault.hash_key_fingerprint(
        GOOD["MY_NUMBER_HASH_KEY"]
    )
    assert run(ENTRY_POINTS["check"], env).returncode == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql" and not os.environ.get("REQUIRE_SERVICES"),
    reason="the subprocesses share the test database only on PostgreSQL (always under .ci/run)",
)
def test_a_changed_hash_key_cannot_import_a_taken_number_for_a_second_person(
    transactional_db, tmp_path
):
    """The issue's fault, through the real `import` command: after a hash key change the
    same My Number went in for a second person. Now the command refuses to start."""
    from members.services import my_number_register
    from tests.factories import MemberFactory, OfficeFactory
    from tests.importing import MEMBER_HEADER, member_line, write_csv

    office = OfficeFactory(symbol="1001")
    my_number_register(
        member=MemberFactory(office=office, number="1"), value=PLAIN, user=None, reason="a"
    )
    path = write_csv(
        tmp_path, "members.csv", [MEMBER_HEADER, member_line(number="2", my_number=PLAIN)]
    )
    env = env_without_keys(
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
        MY_NUMBER_KEYS=os.environ["MY_NUMBER_KEYS"],  # the test run's: the stored numbers'
        MY_NUMBER_HASH_KEY=secrets.token_urlsafe(48),  # changed
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL="memory://",
    )
    command = [sys.executable, "manage.py", "import", "members.resources.MemberResource"]
    result = run([*command, str(path), "--format", "csv", "--no-input"], env)
    assert result.returncode != 0
    assert "rehash_my_numbers" in result.stdout + result.stderr
    assert PLAIN not in result.stdout + result.stderr
    assert MyNumber.objects.count() == 1
