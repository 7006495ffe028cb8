"""Encryption and keyed hashing for the My Number vault (domain.md §11).

Keys come from settings (the environment): MY_NUMBER_KEYS, newest first, so a new key
can be added in front and old tokens still decrypt until they are rotated.
"""

import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.MY_NUMBER_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key."""
    return _fernet().rotate(token.encode()).decode()


def lookup_hash(plaintext: str) -> str:
    return hmac.new(
        settings.MY_NUMBER_HASH_KEY.encode(), plaintext.encode(), hashlib.sha256
    ).hexdigest()


class EncryptionKeys:
    """A fixed key set for bulk work, so a million rows do not rebuild it each time."""

    def __init__(self) -> None:
        self.fernet = _fernet()
        self.hash_key = settings.MY_NUMBER_HASH_KEY.encode()

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self.fernet.decrypt(token.encode()).decode()

    def lookup_hash(self, plaintext: str) -> str:
        return hmac.new(self.hash_key, plaintext.encode(), hashlib.sha256).hexdigest()
