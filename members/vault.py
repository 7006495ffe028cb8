"""Encryption and keyed hashing for the My Number vault (domain.md §11).

Keys come from settings (the environment): MY_NUMBER_KEYS, newest first, so a new key
can be added in front and old tokens still decrypt until they are rotated.

The look-up hashes are only as good as the key that made them: with another key the same
number would hash differently and could be registered for a second person. So the key's
fingerprint is stored (MyNumberHashKey), and nothing hashes with a key whose fingerprint
differs until `manage.py rehash_my_numbers` has recomputed every hash.
"""

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

FINGERPRINT_TEXT = b"insurer: fingerprint of MY_NUMBER_HASH_KEY"

HASH_KEY_CHANGED = (
    "MY_NUMBER_HASH_KEY が、登録済みの個人番号の照合用ハッシュを作った鍵と違います。"
    "このままでは同じ個人番号を別の人に登録できてしまうため、処理を止めました。"
    "鍵を変えたのなら `python manage.py rehash_my_numbers` で照合用ハッシュを作り直してから"
    "起動してください。誤って変わったのなら元の鍵に戻してください（README「Security」）。"
)
KEY_MISSING = (
    "この個人番号を暗号化した鍵が MY_NUMBER_KEYS にないため復号できません。"
    "外した古い鍵を MY_NUMBER_KEYS の末尾に戻してください（README「Security」）。"
)


class HashKeyChanged(ImproperlyConfigured):
    """The configured hash key is not the one the stored hashes were made with."""


class KeyMissing(Exception):
    """A token was encrypted with a key no longer in MY_NUMBER_KEYS."""

    def __init__(self, message: str = KEY_MISSING) -> None:
        super().__init__(message)


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.MY_NUMBER_KEYS])


def hash_key_fingerprint(hash_key: str) -> str:
    return hmac.new(hash_key.encode(), FINGERPRINT_TEXT, hashlib.sha256).hexdigest()


def hash_key_problem() -> str | None:
    """Why the configured hash key must not be used, or None.

    Nothing stored yet: an empty vault takes any key; a vault filled before fingerprints
    were kept is checked against one of its numbers (decrypted and hashed again)."""
    from .models import MyNumber, MyNumberHashKey

    stored = MyNumberHashKey.objects.values_list("fingerprint", flat=True).first()
    if stored is not None:
        return (
            None
            if stored == hash_key_fingerprint(settings.MY_NUMBER_HASH_KEY)
            else (HASH_KEY_CHANGED)
        )
    sample = MyNumber.objects.only("ciphertext", "lookup_hash").order_by("pk").first()
    if sample is None:
        return None
    try:
        plain = _fernet().decrypt(sample.ciphertext.encode()).decode()
    except InvalidToken:
        return None  # cannot tell; decrypting will say what is wrong
    return None if _hmac(plain) == sample.lookup_hash else HASH_KEY_CHANGED


def hash_key_problem_at_start() -> str | None:
    """hash_key_problem for a process starting up: a database that is not there or not
    migrated yet is not a key problem (the first use checks again)."""
    try:
        return hash_key_problem()
    except DatabaseError:
        return None


_verified: set[str] = set()


def ensure_hash_key() -> None:
    """Refuse (HashKeyChanged) to hash with a key other than the stored hashes' key;
    record the fingerprint when none is stored. Checked once per process and key."""
    from .models import MyNumberHashKey

    fingerprint = hash_key_fingerprint(settings.MY_NUMBER_HASH_KEY)
    if fingerprint in _verified:
        return
    problem = hash_key_problem()
    if problem:
        raise HashKeyChanged(problem)
    MyNumberHashKey.objects.get_or_create(pk=1, defaults={"fingerprint": fingerprint})
    _verified.add(fingerprint)


def forget_verified_hash_keys() -> None:
    """Check again on next use (after a re-hash, and in tests)."""
    _verified.clear()


def _hmac(plaintext: str, hash_key: str | None = None) -> str:
    key = (hash_key or settings.MY_NUMBER_HASH_KEY).encode()
    return hmac.new(key, plaintext.encode(), hashlib.sha256).hexdigest()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plain number; KeyMissing when no configured key decrypts it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyMissing from None


def lookup_hash(plaintext: str) -> str:
    ensure_hash_key()
    return _hmac(plaintext)


class EncryptionKeys:
    """A fixed key set for bulk work, so a million rows do not rebuild it each time."""

    def __init__(self, *, check_hash_key: bool = True) -> None:
        if check_hash_key:
            ensure_hash_key()
        self.fernet = _fernet()
        self.hash_key = settings.MY_NUMBER_HASH_KEY.encode()

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise KeyMissing from None

    def rotate(self, token: str) -> str:
        """The token under the newest key."""
        try:
            return self.fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeyMissing from None

    def lookup_hash(self, plaintext: str) -> str:
        return hmac.digest(self.hash_key, plaintext.encode(), "sha256").hex()  # as _hmac
