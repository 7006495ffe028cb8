"""The upload kept encrypted between the admin's preview and its confirmation."""

import base64
import contextlib
import hashlib
import os
import time

from cryptography.fernet import Fernet
from django.conf import settings
from import_export.tmp_storages import TempFolderStorage


class EncryptedTempStorage(TempFolderStorage):
    """Keeps an uploaded file between preview and confirmation encrypted on disk.

    A member file carries My Numbers; the library's default leaves it in /tmp as is.
    The files live in IMPORT_UPLOADS_ROOT (by default `imports/` in PRIVATE_FILES_ROOT, the
    volume the web and the workers share), so that a worker on another container or
    machine finds the upload the web process stored.
    Files are named ``insurer-import-<random>``; ``remove_abandoned`` deletes those older
    than UPLOAD_MAX_AGE (a preview nobody confirmed), and ``StrictImportMixin`` removes
    the file as soon as a preview fails or an import is confirmed.
    """

    PREFIX = "insurer-import-"
    UPLOAD_MAX_AGE = 2 * 60 * 60  # seconds a preview waits for its confirmation

    def _cipher(self) -> Fernet:
        seed = f"import-tmp:{settings.MY_NUMBER_KEYS[0]}".encode()
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(seed).digest()))

    def save(self, data) -> None:
        self.remove_abandoned()
        if isinstance(data, str):
            data = data.encode("utf-8")
        token = self._cipher().encrypt(data)
        with self._open(mode="wb") as file:
            file.write(token)

    def read(self) -> bytes:
        with self._open(mode="rb") as file:
            return self._cipher().decrypt(file.read())

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.get_full_path())

    @staticmethod
    def directory() -> str:
        """IMPORT_UPLOADS_ROOT, made (owner only) if missing."""
        path = os.fspath(settings.IMPORT_UPLOADS_ROOT)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def get_full_path(self) -> str:
        return os.path.join(self.directory(), os.path.basename(self.name))

    def _open(self, mode="rb"):
        if not self.name:
            self.name = self.PREFIX + os.urandom(16).hex()
        return open(self.get_full_path(), mode)

    @classmethod
    def owns(cls, name: str | None) -> bool:
        return bool(name) and os.path.basename(name).startswith(cls.PREFIX)

    @classmethod
    def remove_abandoned(cls) -> int:
        """Delete uploads older than UPLOAD_MAX_AGE; returns how many."""
        removed, limit = 0, time.time() - cls.UPLOAD_MAX_AGE
        with os.scandir(cls.directory()) as entries:
            for entry in entries:
                if entry.name.startswith(cls.PREFIX) and entry.stat().st_mtime < limit:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(entry.path)
                        removed += 1
        return removed
