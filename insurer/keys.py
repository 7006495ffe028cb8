"""The secrets every process needs, read and checked at settings import.

Outside DEBUG nothing is derived from a published constant: DJANGO_SECRET_KEY,
MY_NUMBER_KEYS and MY_NUMBER_HASH_KEY must be set, and strong, or the process (web,
Celery worker and beat, every management command) refuses to start with
``KeyConfigurationError`` naming the variable and how to make a value. With DEBUG (``make
run``) a missing value is derived from the development secret key, as before.

Imported by settings.py, so nothing here may touch django.conf.settings.
"""

import base64
import binascii
import hashlib

from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

GENERATE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
GENERATE_FERNET_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)
GENERATE_HASH_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"

SECRET_KEY_MIN_LENGTH = 50  # as Django's own deploy check (security.W009)
HASH_KEY_MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 12  # `aaaa…`, `abcabc…`, `1234…` are not keys
FERNET_KEY_MIN_DISTINCT_BYTES = 16  # 32 random bytes have ~31 distinct values


class KeyConfigurationError(ImproperlyConfigured):
    """A secret is missing or weak. manage.py prints the message without a traceback."""


def derived_development_key(purpose: str, secret_key: str) -> str:
    """A Fernet-shaped key derived from the secret key: for DEBUG only."""
    digest = hashlib.sha256(f"{purpose}:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Values anyone can compute from this repository; refused outside DEBUG, and refused as
# explicit settings anywhere.
PUBLISHED_VALUES = frozenset(
    {
        DEVELOPMENT_SECRET_KEY,
        derived_development_key("my-number-encryption", DEVELOPMENT_SECRET_KEY),
        derived_development_key("my-number-hash", DEVELOPMENT_SECRET_KEY),
    }
)


def _missing(name: str, how: str) -> str:
    return (
        f"環境変数 {name} が設定されていません。本番（DJANGO_DEBUG=0）では必須です。"
        f"次のコマンドで作った値を設定してください: {how}"
    )


def _weak(name: str, why: str, how: str) -> str:
    return f"環境変数 {name} の値は使えません（{why}）。次のコマンドで作り直してください: {how}"


def secret_key_problem(value: str) -> str | None:
    if value in PUBLISHED_VALUES or value.startswith("django-insecure"):
        return _weak("DJANGO_SECRET_KEY", "公開されている開発用の値です", GENERATE_SECRET_KEY)
    if len(value) < SECRET_KEY_MIN_LENGTH or len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return _weak(
            "DJANGO_SECRET_KEY",
            f"{SECRET_KEY_MIN_LENGTH}文字以上の推測できない値が必要です",
            GENERATE_SECRET_KEY,
        )
    return None


def fernet_key_problem(value: str, position: int) -> str | None:
    where = f"{position}番目の鍵"
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        return _weak(
            "MY_NUMBER_KEYS",
            f"{where}が Fernet 鍵（URL-safe Base64 の32バイト）ではありません",
            GENERATE_FERNET_KEY,
        )
    if value in PUBLISHED_VALUES:
        return _weak(
            "MY_NUMBER_KEYS", f"{where}は公開されている開発用の値です", GENERATE_FERNET_KEY
        )
    if len(set(raw)) < FERNET_KEY_MIN_DISTINCT_BYTES:
        return _weak("MY_NUMBER_KEYS", f"{where}が乱数ではありません", GENERATE_FERNET_KEY)
    return None


def hash_key_problem(value: str, *, secret_key: str, fernet_keys: list[str]) -> str | None:
    if value in PUBLISHED_VALUES:
        return _weak("MY_NUMBER_HASH_KEY", "公開されている開発用の値です", GENERATE_HASH_KEY)
    if len(value) < HASH_KEY_MIN_LENGTH or len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return _weak(
            "MY_NUMBER_HASH_KEY",
            f"{HASH_KEY_MIN_LENGTH}文字以上の推測できない値が必要です",
            GENERATE_HASH_KEY,
        )
    if value == secret_key or value in fernet_keys:
        return _weak(
            "MY_NUMBER_HASH_KEY",
            "DJANGO_SECRET_KEY や MY_NUMBER_KEYS と同じ値は使えません",
            GENERATE_HASH_KEY,
        )
    return None


def load_keys(environ: dict[str, str], *, debug: bool) -> tuple[str, list[str], str]:
    """(SECRET_KEY, MY_NUMBER_KEYS, MY_NUMBER_HASH_KEY) from the environment.

    Every problem is reported at once, one line each. A value that is set is always
    checked; a missing one is derived from the development key only with DEBUG.
    """
    problems = []
    secret_key = environ.get("DJANGO_SECRET_KEY", "").strip()
    fernet_keys = [item.strip() for item in environ.get("MY_NUMBER_KEYS", "").split(",")]
    fernet_keys = [item for item in fernet_keys if item]
    hash_key = environ.get("MY_NUMBER_HASH_KEY", "").strip()

    if not secret_key:
        if debug:
            secret_key = DEVELOPMENT_SECRET_KEY
        else:
            problems.append(_missing("DJANGO_SECRET_KEY", GENERATE_SECRET_KEY))
    elif not debug:
        problems.append(secret_key_problem(secret_key))

    if not fernet_keys:
        if debug:
            fernet_keys = [derived_development_key("my-number-encryption", secret_key)]
        else:
            problems.append(_missing("MY_NUMBER_KEYS", GENERATE_FERNET_KEY))
    else:
        problems.extend(fernet_key_problem(key, n) for n, key in enumerate(fernet_keys, 1))
        if len(set(fernet_keys)) != len(fernet_keys):
            problems.append(_weak("MY_NUMBER_KEYS", "同じ鍵が2回あります", GENERATE_FERNET_KEY))

    if not hash_key:
        if debug:
            hash_key = derived_development_key("my-number-hash", secret_key)
        else:
            problems.append(_missing("MY_NUMBER_HASH_KEY", GENERATE_HASH_KEY))
    else:
        problems.append(hash_key_problem(hash_key, secret_key=secret_key, fernet_keys=fernet_keys))

    problems = [problem for problem in problems if problem]
    if problems:
        raise KeyConfigurationError(
            "起動できません。鍵の設定を確認してください（README「Security」）。\n"
            + "\n".join(f"- {problem}" for problem in problems)
        )
    return secret_key, fernet_keys, hash_key
