"""Settings, all from environment variables (README "Settings" lists them).

With no DATABASE_URL the project uses SQLite; with one, PostgreSQL through psycopg 3.
With no CELERY_BROKER_URL, Celery tasks run in-process (eagerly).
"""

import os
from pathlib import Path

import dj_database_url
from kombu import Queue

from insurer.keys import load_keys

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

# --- Keys (issue 9): fail closed outside DEBUG -----------------------------------------
# DJANGO_SECRET_KEY, MY_NUMBER_KEYS (comma-separated Fernet keys, newest first; older keys
# still decrypt until `manage.py rotate_my_number_keys` re-encrypts everything with the
# first one) and MY_NUMBER_HASH_KEY (the secret of the keyed look-up hash) must be set and
# strong unless DJANGO_DEBUG=1, or every process stops here (insurer/keys.py). With DEBUG
# missing ones are derived from the development secret key.
SECRET_KEY, MY_NUMBER_KEYS, MY_NUMBER_HASH_KEY = load_keys(os.environ, debug=DEBUG)
MY_NUMBER_KEYS_FROM_ENV = bool(os.environ.get("MY_NUMBER_KEYS")) and bool(
    os.environ.get("MY_NUMBER_HASH_KEY")
)
# --- end keys ----------------------------------------------------------------------------
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Project apps first: insurer's `import` command replaces import-export's.
    "insurer",
    "members",
    "certificates",
    "inquiries",
    "insurer.apps.InsurerAdminConfig",  # django.contrib.admin with the project's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # intcomma: 194,453 件
    "import_export",
    "simple_history",
    "axes",
    # Logins (issue 9): TOTP two-factor authentication.
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "insurer.proxy.ProxiedClientAddressMiddleware",  # behind Caddy only (issue 12, see below)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (issue 12, see below)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # logins (issue 9): request.user.is_verified()
    "django.contrib.messages.middleware.MessageMiddleware",
    "insurer.logins.IdleSessionTimeoutMiddleware",  # logins (issue 9)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: locks a login out after repeated failures.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "insurer.urls"
WSGI_APPLICATION = "insurer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Persistent connections: gunicorn.conf.py makes the web server keep them 60 s (issue 11:
# opening one forks a PostgreSQL backend whose caches start cold, on every request with
# 0); checked before reuse. Commands and tests open one per run and keep the default 0.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
# The web server's statements stop after this many seconds (0: never), so a request stuck
# behind a batch's lock frees its worker instead of holding it until gunicorn's timeout.
# Set on the web server's connections only (insurer/web.py); jobs and commands have none.
WEB_STATEMENT_TIMEOUT = int(os.environ.get("WEB_STATEMENT_TIMEOUT", "30"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logins (issue 9): at least 12 characters, Django's validators (messages in Japanese
# through LANGUAGE_CODE), and words anyone would guess at a 健保組合.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "insurer.passwords.GuessableWordValidator"},
]

# A Japanese office: every page is in Japanese whatever the browser asks for (no
# LocaleMiddleware, no negotiation). locale/ holds the project's translations of the
# strings django-import-export and simple-history leave in English.
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static files and the proxy (issue 12; README "Production") -------------------------
# whitenoise serves /static/ from the Django process itself, so gunicorn alone (no proxy,
# DJANGO_DEBUG=0) serves the admin's CSS and JavaScript. collectstatic writes compressed
# copies and names carrying a hash of the content (the manifest): those are sent with a
# one-year cache. Behind Caddy (docker-compose.yml) the proxy serves the same files from
# its image and gunicorn never sees a /static/ request. The Dockerfile runs collectstatic
# at build time with DJANGO_DEBUG=1, without secrets.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Behind the reverse proxy (docker-compose.yml sets 1): the client's address is taken from
# the X-Forwarded-For the proxy writes (insurer/proxy.py), for the lockout and the logs.
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
# --- end static files and the proxy -------------------------------------------------------
# Batch PDFs and mailing lists hold personal data: they are kept outside any public
# path and served only by certificates.views (role checked, every download logged).
# DJANGO_MEDIA_ROOT is the old name of PRIVATE_FILES_ROOT, still read.
PRIVATE_FILES_ROOT = Path(
    os.environ.get("PRIVATE_FILES_ROOT")
    or os.environ.get("DJANGO_MEDIA_ROOT")
    or BASE_DIR / "private"
)
# Uploads between an import's preview and its confirmation (encrypted), read by the Celery
# worker that runs the confirmed import: a directory the web and the workers share.
IMPORT_UPLOADS_ROOT = Path(os.environ.get("IMPORT_UPLOADS_ROOT") or PRIVATE_FILES_ROOT / "imports")
# Behind a proxy: the internal location that maps to PRIVATE_FILES_ROOT (e.g.
# "/protected/"); the view then answers with X-Accel-Redirect instead of the bytes.
PROTECTED_DOWNLOADS_ACCEL_PREFIX = os.environ.get("PROTECTED_DOWNLOADS_ACCEL_PREFIX", "")

# --- Security (production sets DJANGO_SECURE=1; see README) ---------------------------
SECURE = env_bool("DJANGO_SECURE", False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None
SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_AGE", 8 * 60 * 60))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"

# --- Logins (issue 9; insurer/logins.py, README "Security") -------------------------------
# Logged out after this many seconds without a request (and after SESSION_COOKIE_AGE in all).
SESSION_IDLE_TIMEOUT = int(os.environ.get("DJANGO_SESSION_IDLE_TIMEOUT", 30 * 60))
# 確認コード (TOTP) is always required for 管理者, 監査 and superusers; this adds clerks.
OTP_REQUIRED_FOR_CLERKS = env_bool("OTP_REQUIRED_FOR_CLERKS", False)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "健保組合 資格管理")
# django-otp's own device admin (superusers only) never shows a device's secret or QR code:
# enrollment is `manage.py otp_setup`, with the person present.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Lockout (django-axes): AXES_FAILURE_LIMIT failures of one username from one address lock
# that pair for an hour. By username and address together: five wrong passwords typed
# from anywhere no longer lock a clerk out everywhere, and clerks behind the office's one
# NAT address do not lock each other out. A 管理者 unlocks in ログインのロック.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the project's own Japanese screen (insurer/admin.py)
AXES_LOCKOUT_TEMPLATE = "admin/login_locked.html"  # in Japanese, status 429
# Error pages and mail hide every My Number, also in the frames' variables.
DEFAULT_EXCEPTION_REPORTER_FILTER = "insurer.errors.MyNumberSafeExceptionReporterFilter"
# --- end logins ---------------------------------------------------------------------------

# --- Celery ------------------------------------------------------------------------------
# No broker: tasks run eagerly, and the in-memory transport stands in for one.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# --- Celery: delivery when a worker dies (issue 9; README "Jobs") ---------------------
# A task is acknowledged only once it has finished; if the pool child running it dies
# (killed, out of memory) the message goes back to the queue for the next worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message out again after this long: a whole worker killed
# mid-task is retried after at most an hour. Longer than the longest task (issuing at a
# million members ≤ 10 min, its PDF rendering about as long); a task still running when
# it is redelivered finds its lock held and does nothing (jobs, batch rendering).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 60 * 60,
    # A worker reads its queues in sorted order, each time from the first (see below).
    "queue_order_strategy": "sorted",
}
# --- end of Celery delivery settings ---------------------------------------------------
# --- Celery: what a clerk waits for comes first (README "Jobs") ------------------------
# A confirmed import, the PDF of a clerk's single issue and 「PDFを作り直す」 go to the
# "interactive" queue; everything else (the nightly, issuing, a batch's PDF parts) to
# "jobs". A worker started without -Q reads both, "interactive" first ("sorted": the
# names are chosen so), so a clerk's task waits for the tasks already running, not for
# the parts of a batch render queued before it.
CELERY_INTERACTIVE_QUEUE = "interactive"
CELERY_TASK_DEFAULT_QUEUE = "jobs"
CELERY_TASK_QUEUES = [Queue(CELERY_INTERACTIVE_QUEUE), Queue(CELERY_TASK_DEFAULT_QUEUE)]
CELERY_TASK_ROUTES = {"insurer.import_file": {"queue": CELERY_INTERACTIVE_QUEUE}}
# --- Batch rendering in parts (issue 11; README "資格確認書") --------------------------
# Documents (certificates and notices) per part: one Celery task renders one part.
RENDER_PART_SIZE = int(os.environ.get("RENDER_PART_SIZE") or 5000)
# A failed part is tried again after this many seconds, then twice as long, and so on.
RENDER_PART_RETRY_SECONDS = int(os.environ.get("RENDER_PART_RETRY_SECONDS") or 10)
# Batch work yields the CPU to clerks (issue 11, insurer/priority.py): the Celery worker
# and the job commands run at this Linux niceness (0: as the web server).
JOB_NICENESS = int(os.environ.get("JOB_NICENESS", "10"))

# --- django-import-export / simple-history ---------------------------------------------
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True  # history rows are the audit trail
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True  # with = + - @, see insurer.imports
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
# Uploaded files wait for confirmation encrypted, never in plain text.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "insurer.imports.EncryptedTempStorage"
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Logging: to the console; nothing here ever formats a My Number. --------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Twelve digits in a row (a My Number, perhaps) are masked in every record (issue 9).
    "filters": {"mask_twelve_digits": {"()": "insurer.masking.MaskTwelveDigits"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_twelve_digits"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
