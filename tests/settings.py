"""Test settings: the real settings with a fast password hasher.

CI runs with DJANGO_DEBUG unset, i.e. as production, where the settings refuse to load
without real keys (insurer/keys.py). The test run makes its own: random for each run,
put in the environment before the settings read it, so nothing published is ever a key
and the subprocesses the tests start (a Celery worker, commands) share them. A subprocess
that must start without keys is given an environment without them.
"""

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("MY_NUMBER_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("MY_NUMBER_HASH_KEY", secrets.token_urlsafe(48))

from insurer.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Commands called in-process would lower pytest's own priority for the rest of the run;
# tests/insurer/test_priority.py sets it where it checks it.
JOB_NICENESS = 0
AXES_ENABLED = True
# Import uploads (encrypted) in the system's temporary directory, not in the checkout.
IMPORT_UPLOADS_ROOT = Path(tempfile.gettempdir()) / "insurer-test-imports"

# The suite renders pages without running collectstatic first: the manifest storage
# would refuse every {% static %} it has no entry for. The production shape, manifest
# included, is started by tests/test_production.py with insurer.settings.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# No STATIC_ROOT either: whitenoise looks files up per request instead of listing a folder
# that does not exist at start (and warning about it in every test).
WHITENOISE_AUTOREFRESH = True
