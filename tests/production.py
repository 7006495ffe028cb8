"""Helpers for tests/test_production.py: reading docker-compose.yml, the Dockerfile and
.env.example as Compose and Docker would, and running the production processes (a browser
session over HTTP, process groups stopped whatever happens, a database made by the
PostgreSQL init script)."""

import http.cookiejar
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


# --- reading the files ----------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict:
    return compose()["services"]


def dockerfile_stages() -> dict[str, str]:
    """Each `FROM … AS name` stage's text, by name (the unnamed last stage as "final")."""
    stages, name = {}, None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line):
            name = match.group(2) or "final"
            stages[name] = ""
        if name:
            stages[name] += line + "\n"
    return stages


def env_example() -> dict[str, str]:
    """The assignments of .env.example, commented out or not: name → value."""
    names = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(\S*)", line):
            names.setdefault(match.group(1), match.group(2))
    return names


def env_example_required() -> set[str]:
    """The names .env.example assigns without commenting them out."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.M))


def variables_the_settings_read() -> set[str]:
    """Every environment variable the settings, the key loader and the Celery app read."""
    names = {"DATABASE_URL"}  # dj_database_url.config()
    for module in ("settings.py", "keys.py", "celery.py"):
        text = (ROOT / "insurer" / module).read_text()
        names |= set(re.findall(r"""(?:environ\.get|env_bool|env_list)\(\s*["']([A-Z_]+)""", text))
        names |= set(re.findall(r"""environ\[["']([A-Z_]+)""", text))
    return names


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, and $$ for a dollar sign."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    value = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, value)
    return value.replace("$$", "$")


def sample_dotenv() -> dict[str, str]:
    """A .env as the operator makes it from .env.example, with freshly generated secrets."""
    env = {name: value for name, value in env_example().items() if name in env_example_required()}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        MY_NUMBER_KEYS=Fernet.generate_key().decode(),
        MY_NUMBER_HASH_KEY=secrets.token_urlsafe(48),
        POSTGRES_PASSWORD=secrets.token_hex(32),
        APP_DB_PASSWORD=secrets.token_hex(32),
        REDIS_PASSWORD=secrets.token_hex(32),
    )
    return env


def app_environment(dotenv: dict[str, str]) -> dict[str, str]:
    """The web container's environment as Compose would build it from that .env."""
    env = {}
    for name, value in services()["web"]["environment"].items():
        if value is None:  # passed through from .env when set there
            if dotenv.get(name):
                env[name] = dotenv[name]
        else:
            env[name] = interpolate(str(value), dotenv)
    return env


def volume_target(service: dict, volume: str) -> tuple[str, bool]:
    """Where `volume` is mounted in a service, and whether read-only."""
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        if source == volume:
            return target, mode == ["ro"]
    raise AssertionError(f"{volume} is not mounted")


# --- running the processes ---------------------------------------------------------------


def minimal_environ() -> dict[str, str]:
    """This process's environment without any setting of the project (nor pytest's)."""
    prefixes = ("DJANGO_", "MY_NUMBER", "CELERY_", "OTP_", "AXES_", "PYTEST", "PRIVATE_")
    names = {"DATABASE_URL", "REQUIRE_SERVICES", "PROTECTED_DOWNLOADS_ACCEL_PREFIX", "LOG_LEVEL"}
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in names}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class BrowserSession:
    """What a browser keeps between requests: cookies (session, CSRF). No redirects followed."""

    base_url: str
    files_root: Path  # where the worker writes; read by download_batch_pdf until issue 10
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def _open(self, request: urllib.request.Request) -> Response:
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect
        )
        try:
            with opener.open(request, timeout=30) as response:
                return Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def get(self, url: str) -> Response:
        return self._open(urllib.request.Request(urllib.parse.urljoin(self.base_url, url)))

    def post(self, url: str, data: dict[str, str]) -> Response:
        token = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
        full = urllib.parse.urljoin(self.base_url, url)
        request = urllib.request.Request(
            full,
            data=urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": full, "Origin": self.base_url.rstrip("/")},
        )
        return self._open(request)

    def log_in(self, username: str, password: str, otp_token: str) -> Response:
        self.get("/admin/login/")
        return self.post(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password, "otp_token": otp_token, "next": "/admin/"},
        )


@dataclass
class Processes:
    """Long-running processes, each in its own process group, stopped with everything in it."""

    logs: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()[-4000:]

    def assert_running(self) -> None:
        for name, process in self.started:
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            try:  # children a killed parent left behind (a prefork pool)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run(command: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kwargs
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def compose_command(service: str, **replace: str) -> list[str]:
    """A service's command from docker-compose.yml, run by this Python, options replaced."""
    command = list(services()[service]["command"])
    for option, value in replace.items():
        flag = "--" + option.replace("_", "-")
        command[command.index(flag) + 1] = value
    return [sys.executable, "-m", *command]


def wait_until(condition, *, seconds: float, processes: Processes, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        processes.assert_running()
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {seconds} seconds")


@dataclass
class AppDatabase:
    """A database made as the postgres container makes it, and the superuser's tools."""

    name: str  # the database and its role
    url: str  # as the application connects
    admin_env: dict[str, str]  # PG* variables for psql, pg_dump, pg_restore as the superuser

    @property
    def restored_name(self) -> str:
        return f"{self.name}_r"

    def restore_copy(self, dump: Path) -> str:
        """README "Production" → Restore, with the host's tools: an empty database owned by
        the role, btree_gist, pg_restore as the role. Returns the copy's URL."""
        tools = {"env": self.admin_env}
        run(["createdb", "-O", self.name, self.restored_name], **tools)
        run(["psql", "-d", self.restored_name, "-c", "CREATE EXTENSION btree_gist"], **tools)
        restore = ["pg_restore", "-d", self.restored_name, "--no-owner", f"--role={self.name}"]
        run([*restore, "--no-comments", "--exit-on-error", str(dump)], **tools)
        return self.url.rsplit("/", 1)[0] + "/" + self.restored_name
