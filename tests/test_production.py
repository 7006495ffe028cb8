"""The production shape: docker-compose.yml, the Dockerfile and Caddyfile read as an operator
would, and the same processes started without Docker.

There is no Docker engine on these machines. So the compose file is checked against the
settings it feeds (commands, volumes, users, healthchecks, the order of start), and
``test_production_shape_serves_clerks_and_renders_a_batch`` runs what the containers run:
the PostgreSQL init script, collectstatic without secrets, migrate as the application's
non-superuser role, gunicorn with DJANGO_DEBUG=0, a Celery worker on Redis, and the
operator's first steps (createsuperuser, otp_setup), then an issuing batch.
"""

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import uuid

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django_otp.oath import TOTP

from tests.production import (
    ROOT,
    AppDatabase,
    BrowserSession,
    Processes,
    Response,
    app_environment,
    compose,
    compose_command,
    dockerfile_stages,
    env_example,
    env_example_required,
    free_port,
    minimal_environ,
    run,
    sample_dotenv,
    services,
    variables_the_settings_read,
    volume_target,
    wait_until,
)

APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat", "proxy")
RUN_DATE = "2026-11-21"

needs_services = pytest.mark.skipif(
    not os.environ.get("REQUIRE_SERVICES")
    and (
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or settings.CELERY_TASK_ALWAYS_EAGER
    ),
    reason="needs PostgreSQL and a Redis broker (always present under .ci/run)",
)


# --- the compose file against the settings --------------------------------------------------


def test_compose_has_the_production_services_and_exactly_one_beat():
    assert set(services()) == {"postgres", "redis", "migrate", "web", "worker", "beat", "proxy"}
    commands = {name: service.get("command", []) for name, service in services().items()}
    beats = [name for name, command in commands.items() if "beat" in command]
    assert beats == ["beat"]
    # No worker embeds a beat (`worker -B`): that would be a second scheduler per worker.
    assert not {"-B", "--beat"} & set(commands["worker"])


def test_compose_commands_name_real_modules(db):  # importing the wsgi module checks the vault
    import importlib

    web = services()["web"]["command"]
    assert web[0] == "gunicorn"
    module, attribute = web[1].split(":")
    assert (module, attribute) == ("insurer.wsgi", "application")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert web[web.index("--bind") + 1] == "0.0.0.0:8000"  # the port Caddyfile proxies to
    assert "reverse_proxy web:8000" in (ROOT / "Caddyfile").read_text()
    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        command = services()[name]["command"]
        assert command[:4] == ["celery", "-A", "insurer", subcommand]
    from insurer import celery_app

    assert celery_app.main == "insurer"
    assert services()["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # The image's default command is the web service's.
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile_stages()["app"], re.M).group(1)
    assert json.loads(cmd) == web


def test_everything_waits_for_migrate_and_migrate_for_postgres():
    for name in ("web", "worker", "beat"):
        depends = services()[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    migrate = services()["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"  # one-shot: restarting would never complete
    assert services()["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_only_the_proxy_publishes_ports_and_the_backend_has_no_route_out():
    published = {name for name, service in services().items() if service.get("ports")}
    assert published == {"proxy"}
    assert {port.split(":")[0] for port in services()["proxy"]["ports"]} == {"80", "443"}
    assert compose()["networks"]["backend"]["internal"] is True
    for name, service in services().items():
        expected = ["backend", "edge"] if name == "proxy" else ["backend"]
        assert service["networks"] == expected, name


def test_every_long_running_service_has_a_healthcheck():
    for name in LONG_RUNNING:
        test = services()[name]["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
    # The one-shot migrate turns off the image's HEALTHCHECK (it would never be healthy).
    assert services()["migrate"]["healthcheck"] == {"disable": True}
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD ", dockerfile_stages()["app"], re.M)
    # web and beat use insurer.healthcheck, run for real in the production-shape test.
    assert services()["web"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "insurer.healthcheck",
        "web",
    ]
    assert services()["beat"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "insurer.healthcheck",
        "broker",
    ]
    assert "celery -A insurer inspect ping" in services()["worker"]["healthcheck"]["test"][1]


def test_app_containers_run_as_the_images_non_root_user():
    app = dockerfile_stages()["app"]
    uid = re.search(r"useradd .*--uid (\d+)", app).group(1)
    assert uid != "0"
    assert re.search(r"^USER app$", app, re.M)
    for name in APP_SERVICES:
        assert services()[name]["user"] == f"{uid}:{uid}", name


def test_images_are_pinned_and_the_final_image_has_no_build_tools():
    stages = dockerfile_stages()
    assert set(stages) == {"builder", "app", "proxy", "final"}
    for name in ("builder", "app"):
        assert re.match(r"FROM python:3\.11\.\d+-slim-bookworm AS ", stages[name]), name
    assert re.match(r"FROM caddy:2\.\d+\.\d+-alpine AS proxy", stages["proxy"])
    assert stages["final"].startswith("FROM app\n")  # `docker build .` gives the app image
    assert "build-essential" in stages["builder"]
    assert "apt-get" not in stages["app"] and "--no-index" in stages["app"]
    for name in ("postgres", "redis"):
        assert re.fullmatch(r"[a-z]+:\d+\.\d+(\.\d+)?(-[a-z]+)?", services()[name]["image"]), name
    assert services()["postgres"]["image"].startswith("postgres:15.")
    # The image installs the runtime dependencies only (the Dockerfile cuts requirements.txt
    # at this line): the server and the static files are above it, the test tools below.
    requirements = (ROOT / "requirements.txt").read_text()
    runtime, tools = requirements.split("# Tests and tooling")
    assert "gunicorn==" in runtime and "whitenoise==" in runtime
    assert "pytest==" in tools and "pytest" not in runtime


def test_the_files_volume_is_where_the_settings_write_and_the_proxy_reads(tmp_path):
    target, read_only = volume_target(services()["web"], "files")
    assert not read_only
    assert volume_target(services()["worker"], "files") == (target, False)
    proxy_target, proxy_read_only = volume_target(services()["proxy"], "files")
    assert proxy_read_only
    caddyfile = (ROOT / "Caddyfile").read_text()
    accel = re.search(r"handle_response @accel \{(.*?)\n\t\t\t\}", caddyfile, re.S).group(1)
    assert f"root * {proxy_target}" in accel
    # The app image creates the mount point for its user: a new volume takes its owner.
    assert f"mkdir -p {target} && chown app:app {target}" in dockerfile_stages()["app"]
    # The prefix the download view puts in X-Accel-Redirect is the one Caddy intercepts.
    prefix = services()["web"]["environment"]["PROTECTED_DOWNLOADS_ACCEL_PREFIX"]
    assert f"@accel header X-Accel-Redirect {prefix}*" in caddyfile
    assert f"uri strip_prefix {prefix.rstrip('/')}" in accel
    # Static files: the proxy image copies them from where collectstatic put them.
    static_root = services()["web"]["environment"]["DJANGO_STATIC_ROOT"]
    assert f"COPY --from=app {static_root} /srv/static" in dockerfile_stages()["proxy"]
    assert "root * /srv/static" in caddyfile

    # And the settings, loaded with the web container's environment, agree.
    env = {**minimal_environ(), **app_environment(sample_dotenv())}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'compose-env.sqlite3'}"  # no host `postgres` here
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from django.conf import settings as s; print(json.dumps({"
            "'files': str(s.PRIVATE_FILES_ROOT),"
            "'static': str(s.STATIC_ROOT), 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS,"
            "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'behind_proxy': s.BEHIND_PROXY}))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    values = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert values == {
        "files": target,
        "static": static_root,
        "debug": False,
        "hosts": [sample_dotenv()["SITE_DOMAIN"]],
        "ssl_redirect": True,
        "behind_proxy": True,
    }
    # The deploy check passes with exactly what the containers get.
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_env_example_lists_every_setting_and_holds_no_secret():
    listed = env_example()
    read = variables_the_settings_read()
    assert read - set(listed) == set(), "missing from .env.example"
    # Every variable the settings read reaches the app containers (set or passed through).
    passed = set(services()["web"]["environment"])
    assert read - passed <= {"DJANGO_MEDIA_ROOT"}, "not passed to the app containers"
    # Nothing else but the settings module and the download view's prefix (issue 10).
    assert passed - read <= {"DJANGO_SETTINGS_MODULE", "PROTECTED_DOWNLOADS_ACCEL_PREFIX"}
    # Every ${VAR} the compose file interpolates can be set in .env.example; the required
    # ones (`:?`) are uncommented there, so a copied file shows what to fill in.
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert interpolated - set(listed) == set()
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    assert required - env_example_required() == set()
    for name in required:
        if "KEY" in name or "PASSWORD" in name:
            assert listed[name] == "", f"{name} must be empty in .env.example"
    # Each key says how to make one (the commands of insurer/keys.py).
    from insurer import keys

    example = (ROOT / ".env.example").read_text()
    for command in (keys.GENERATE_SECRET_KEY, keys.GENERATE_FERNET_KEY, keys.GENERATE_HASH_KEY):
        assert command in example


def test_dockerignore_keeps_private_local_and_secret_files_out_of_the_image():
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".git", ".env", ".venv", "db.sqlite3", "media", "private", "**/__pycache__"):
        assert pattern in patterns, pattern
    assert "!.env.example" in patterns
    assert ".pytest_cache" in patterns and "staticfiles" in patterns
    # and the .gitignore'd folders of generated files are among them
    for line in (ROOT / ".gitignore").read_text().splitlines():
        if line in {"/media/", "/private/", "/staticfiles/"}:
            assert line.strip("/") in patterns, line


# --- the production shape, without Docker -----------------------------------------------------


def download_batch_pdf(session: BrowserSession, base_url: str, batch_id: int) -> bytes:
    """The batch's certificate PDF, through the role-checked, logged download view."""
    response = session.get(f"{base_url}/admin/certificates/issuebatch/{batch_id}/download/pdf/")
    assert response.status == 200, response.status
    assert response.headers["Content-Type"] == "application/pdf"
    return response.body


@pytest.fixture
def app_database():
    """A fresh database made by deploy/postgres/init-app-database.sh, as the postgres
    container makes it: a non-superuser role owning its database, btree_gist created.
    Dropped with its restored copy and the role afterwards, whatever happened."""
    admin = settings.DATABASES["default"]
    name = f"insurer_prod_{uuid.uuid4().hex[:10]}"
    password = secrets.token_hex(16)
    host, port = admin["HOST"] or "127.0.0.1", str(admin["PORT"] or 5432)
    admin_env = {
        **minimal_environ(),
        "PGHOST": host,
        "PGPORT": port,
        "PGUSER": admin["USER"],
        "PGPASSWORD": admin["PASSWORD"] or "",
    }
    init_env = {
        **admin_env,
        "POSTGRES_USER": admin["USER"],
        "POSTGRES_DB": "postgres",
        "APP_DB_USER": name,
        "APP_DB_PASSWORD": password,
        "APP_DB_NAME": name,
    }
    database = AppDatabase(
        name=name, url=f"postgres://{name}:{password}@{host}:{port}/{name}", admin_env=admin_env
    )
    admin_url = f"postgresql://{admin['USER']}@{host}:{port}/postgres"
    try:
        run(["sh", str(ROOT / "deploy/postgres/init-app-database.sh")], init_env)
        yield database
    finally:
        with psycopg.connect(admin_url, password=admin["PASSWORD"] or None, autocommit=True) as c:
            for db_name in (name, database.restored_name):
                c.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            c.execute(f'DROP ROLE IF EXISTS "{name}"')


@needs_services
def test_production_shape_serves_clerks_and_renders_a_batch(tmp_path, app_database):
    static_root, files_root = tmp_path / "static", tmp_path / "files"
    files_root.mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **minimal_environ(),
        "DJANGO_SETTINGS_MODULE": "insurer.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE": "0",  # no TLS here; compose sets 1 behind Caddy
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MY_NUMBER_KEYS": Fernet.generate_key().decode(),
        "MY_NUMBER_HASH_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": app_database.url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DJANGO_STATIC_ROOT": str(static_root),
        "PRIVATE_FILES_ROOT": str(files_root),
    }
    manage = [sys.executable, "manage.py"]

    # The image build: collectstatic with DEBUG and no secrets at all (Dockerfile).
    build_env = {k: v for k, v in env.items() if k not in {"DJANGO_SECRET_KEY", "DATABASE_URL"}}
    build_env = {k: v for k, v in build_env.items() if not k.startswith("MY_NUMBER")}
    run([*manage, "collectstatic", "--noinput"], {**build_env, "DJANGO_DEBUG": "1"})
    assert (static_root / "staticfiles.json").exists()
    # The migrate service, as the application's role (not a superuser).
    run([*manage, "migrate", "--noinput"], env)

    processes = Processes(logs=tmp_path)
    try:
        processes.start("web", compose_command("web", bind=f"127.0.0.1:{port}", workers="2"), env)
        processes.start(
            "worker",
            [
                *compose_command("worker", concurrency="1"),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env,
        )
        session = BrowserSession(base_url=base_url, files_root=files_root)

        def login_page() -> Response | None:
            try:
                page = session.get("/admin/login/")
            except OSError:
                return None
            return page if page.status == 200 else None

        page = wait_until(login_page, seconds=30, processes=processes, what="gunicorn")
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "ログイン" in page.text

        # Static files from gunicorn alone (whitenoise), under the manifest's hashed name.
        css = re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css", page.text).group(0)
        static = session.get(css)
        assert static.status == 200
        assert static.headers["Content-Type"].startswith("text/css")
        assert "immutable" in static.headers["Cache-Control"]
        assert static.body == (static_root / css.removeprefix("/static/")).read_bytes()
        assert (
            session.get("/static/admin/js/core.js")
            .headers["Content-Type"]
            .startswith("text/javascript")
        )

        # The containers' healthchecks, against these processes.
        run([sys.executable, "-m", "insurer.healthcheck", "web", f"{base_url}/admin/login/"], env)
        run([sys.executable, "-m", "insurer.healthcheck", "broker"], env)
        worker_check = services()["worker"]["healthcheck"]["test"][1].replace("$$", "$")
        worker_check = worker_check.replace("celery ", f"{sys.executable} -m celery ", 1)
        wait_until(
            lambda: (
                subprocess.run(
                    ["sh", "-c", worker_check],
                    cwd=ROOT,
                    env={**env, "HOSTNAME": socket.gethostname()},
                    capture_output=True,
                    timeout=60,
                ).returncode
                == 0
            ),
            seconds=40,
            processes=processes,
            what="the worker's healthcheck (inspect ping)",
        )

        # The operator's first steps (README "Production"): an account and its 確認コード.
        password = secrets.token_urlsafe(16)
        run(
            [*manage, "createsuperuser", "--noinput", "--username", "kanri", "--email", "a@b.jp"],
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
        )
        enrollment = run([*manage, "otp_setup", "kanri"], env).stdout
        key = re.search(r"キー: ([A-Z2-7]+)", enrollment).group(1)
        otp = TOTP(base64.b32decode(key + "=" * (-len(key) % 8))).token()
        logged_in = session.log_in("kanri", password, f"{otp:06d}")
        assert (logged_in.status, logged_in.headers.get("Location")) == (302, "/admin/"), (
            logged_in.text[-2000:]
        )
        index = session.get("/admin/")
        assert index.status == 200 and "ログアウト" in index.text

        # A register, the nightly run and the issuing batch; the worker renders the PDF.
        run([*manage, "seed_demo", "--members", "12"], env)
        run([*manage, "run_nightly", "--date", RUN_DATE], env)
        issued = run([*manage, "issue_certificates", "--date", RUN_DATE], env).stdout
        batch_id = int(re.search(r"バッチ #(\d+)", issued).group(1))

        def rendered() -> tuple | None:
            with psycopg.connect(app_database.url) as connection:
                row = connection.execute(
                    "SELECT status, pdf, error FROM certificates_issuebatch WHERE id = %s",
                    [batch_id],
                ).fetchone()
            assert row[0] != "failed", row[2]
            return row if row[0] == "rendered" else None

        _, pdf_name, _ = wait_until(rendered, seconds=60, processes=processes, what="render")
        pdf = download_batch_pdf(session, base_url, batch_id)
        assert pdf.startswith(b"%PDF-") and len(pdf) > 1000
        assert (files_root / pdf_name).read_bytes() == pdf  # written by the worker
        # The generated files have no public URL, logged in or not.
        assert session.get(f"/media/{pdf_name}").status == 404
        assert BrowserSession(base_url, files_root).get(f"/media/{pdf_name}").status == 404
        processes.assert_running()

        # README "Production" → Back up and Restore: the dump restores into an empty
        # database owned by the role, and the app accepts it with the same keys.
        dump = tmp_path / "insurer.dump"
        run(["pg_dump", "-Fc", "-f", str(dump), app_database.name], app_database.admin_env)
        restored = app_database.restore_copy(dump)
        run([*manage, "check", "--database", "default"], {**env, "DATABASE_URL": restored})
        with psycopg.connect(restored) as connection:
            assert connection.execute(
                "SELECT pdf FROM certificates_issuebatch WHERE id = %s", [batch_id]
            ).fetchone() == (pdf_name,)
    finally:
        processes.stop_all()
