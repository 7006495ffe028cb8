"""Benchmark: 20 clerks in the admin, on a quiet system and while the batch runs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/clerks.py --members 100000
    # at a million, from the seeded template (cloned, never touched):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/clerks.py --clone-from insurer_1m_template --database insurer_wl_1m

What it does, in production shape:

1. A database of its own (`--database`, default `insurer_bench_clerks`): made with
   `migrate` and `seed_demo --members N`, or cloned from `--clone-from` with
   `createdb -T` (a register seeded under DEBUG keeps My Numbers encrypted with the
   published development keys, which production refuses: the copy's My Numbers and key
   fingerprint are dropped, nothing else).
2. Fresh keys as tests/test_production.py makes them, `collectstatic`, then gunicorn with
   DJANGO_DEBUG unset (`--workers 2` unless told otherwise, and the repository's
   gunicorn.conf.py when there is one).
3. `--clerks` 担当者 users (created with the ORM in a child process), each logged in
   through the real login form (GET, then POST with the CSRF token).
4. The clerks work concurrently (one thread each, urllib, cookies kept, no keep-alive:
   gunicorn's sync workers close the connection anyway). Each loops over a clerk's day:
   search the register (by 記号-番号-枝番 or a kana prefix, as a caller gives either),
   open a member's page, and about one time in three log the call as an inquiry (the
   member autocomplete as it is typed, the add form, then the POST with its CSRF token).
   Between two actions a clerk thinks 1–3 s (uniform): a person reads the page, listens
   to the caller, types. That gives 20 clerks ≈ 10 requests/s, a busy office at peak
   rather than an average one. A trivial authenticated page (パスワードの変更) is opened
   now and then: it is the floor (session, user, permissions, template; no register).
5. After `--warmup-seconds` (not reported: the workers' first pages), phase (a) quiet:
   `--quiet-seconds`. Phase (b) batch: the real `run_nightly --force`
   then `issue_certificates --force` for `--date` (the first issuing run of a fresh
   register issues ≈35% of the members), as child processes on the same database, for at
   most `--batch-seconds`; a batch still running then is stopped and said so (the
   nightly's one transaction rolls back; issuing keeps the chunks it committed). During (b) pg_stat_activity is sampled for web requests
   waiting on a lock, with the statement that holds it.

The last line: per action p95 quiet / under the batch, the floor's p95 in both phases, the
ratio of the worst batch p95 to the batch floor, N, and the load average.
"""

import argparse
import contextlib
import http.cookiejar
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-clerk-pass-2026-x"
THINK = (1.0, 3.0)
ACTIONS = (
    "search_key",
    "search_kana",
    "member_page",
    "autocomplete",
    "inquiry_form",
    "inquiry_save",
    "floor",
)
SEARCH_ACTIONS = ("search_key", "search_kana", "member_page", "inquiry_form", "inquiry_save")


# --- the database ------------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def psql_env(base: str) -> dict[str, str]:
    parts = urlparse(base)
    env = {**os.environ, "PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)}
    env["PGUSER"] = parts.username or "postgres"
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def admin_connect(base: str, name: str = "postgres"):
    import psycopg

    return psycopg.connect(database_url(base, name), autocommit=True)


def production_env(url: str, workdir: Path) -> dict[str, str]:
    """What tests/test_production.py gives gunicorn: fresh keys, DEBUG unset."""
    from cryptography.fernet import Fernet

    prefixes = ("DJANGO_", "MY_NUMBER", "CELERY_", "OTP_", "AXES_", "PYTEST", "PRIVATE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        DJANGO_SETTINGS_MODULE="insurer.settings",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        MY_NUMBER_KEYS=Fernet.generate_key().decode(),
        MY_NUMBER_HASH_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=url,
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        PRIVATE_FILES_ROOT=str(workdir / "files"),
        LOG_LEVEL="WARNING",
    )
    env.pop("DJANGO_DEBUG", None)
    return env


def manage(env: dict[str, str], *args: str, timeout: float | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def prepare_database(args, base: str, env: dict[str, str]) -> None:
    with admin_connect(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    if args.clone_from:
        started = time.perf_counter()
        subprocess.run(
            ["createdb", "-T", args.clone_from, args.database], env=psql_env(base), check=True
        )
        with admin_connect(base, args.database) as conn:
            # Seeded under DEBUG: encrypted with the published development keys, which a
            # production process refuses. Nothing the clerks do here reads them.
            conn.execute("TRUNCATE members_mynumber, members_mynumberhashkey")
        print(f"cloned {args.clone_from} in {time.perf_counter() - started:.0f} s", flush=True)
        manage(env, "migrate", "--noinput")
    else:
        with admin_connect(base) as conn:
            conn.execute(f'CREATE DATABASE "{args.database}"')
        manage(env, "migrate", "--noinput")
        started = time.perf_counter()
        manage(env, "seed_demo", "--members", str(args.members), "--date", args.date)
        print(
            f"seeded {args.members:,} members in {time.perf_counter() - started:.0f} s", flush=True
        )
    with admin_connect(base, args.database) as conn:
        conn.execute("VACUUM ANALYZE")


CREATE_CLERKS = """
from django.contrib.auth.models import Group, User
group = Group.objects.get(name="担当者")
for i in range({count}):
    user, _ = User.objects.get_or_create(username=f"benchclerk{{i:02d}}")
    user.is_staff = True
    user.set_password({password!r})
    user.save()
    user.groups.set([group])
"""


@dataclass
class Sample:
    """What the clerks type: real keys, kana prefixes and member ids of this register."""

    members: list[tuple[int, str]]  # (id, 記号-番号-枝番)
    kana_prefixes: list[str]
    categories: list[int]


def sample_register(base: str, name: str) -> Sample:
    with admin_connect(base, name) as conn:
        rows = conn.execute(
            "SELECT id, symbol, number, branch, kana_search FROM members_member "
            "TABLESAMPLE SYSTEM (2) LIMIT 3000"
        ).fetchall()
        if len(rows) < 100:
            rows = conn.execute(
                "SELECT id, symbol, number, branch, kana_search FROM members_member "
                "ORDER BY random() LIMIT 3000"
            ).fetchall()
        categories = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM inquiries_category WHERE is_active AND NOT opens_incident"
            )
        ]
    members = [(row[0], f"{row[1]}-{row[2]}-{row[3]}") for row in rows]
    # A clerk types the family name's first two or three kana (the caller spells it).
    prefixes = [row[4][: random.choice((2, 3))] for row in rows if row[4]]
    return Sample(members=members, kana_prefixes=prefixes, categories=categories)


# --- one clerk -----------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Clerk:
    base_url: str
    username: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect
        )

    def request(self, url: str, data: dict | None = None) -> tuple[int, bytes, dict]:
        full = urllib.parse.urljoin(self.base_url, url)
        body, headers = None, {}
        if data is not None:
            token = next(c.value for c in self.jar if c.name == "csrftoken")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
            headers = {"Referer": full, "Origin": self.base_url.rstrip("/")}
        request = urllib.request.Request(full, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def log_in(self) -> None:
        self.request("/admin/login/")
        status, body, headers = self.request(
            "/admin/login/?next=/admin/",
            {"username": self.username, "password": PASSWORD, "otp_token": "", "next": "/admin/"},
        )
        if status != 302 or headers.get("Location") != "/admin/":
            sys.exit(f"{self.username}: login failed ({status}): {body[:500]!r}")


@dataclass
class Recorder:
    phase: str = "warmup"  # not reported: each gunicorn worker's first pages, the caches
    running: bool = True
    timings: dict = field(default_factory=lambda: defaultdict(list))
    errors: dict = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, action: str, clerk: Clerk, url: str, data=None, expect=(200,)):
        phase = self.phase
        started = time.perf_counter()
        try:
            status, body, headers = clerk.request(url, data)
        except OSError as error:
            status, body, headers = 0, str(error).encode(), {}
        seconds = time.perf_counter() - started
        with self.lock:
            self.timings[(phase, action)].append(seconds)
            if status not in expect:
                self.errors[(phase, action)].append(f"{status} {url} {body[:200]!r}")
        return status, body, headers


def think(recorder: Recorder, rng: random.Random) -> None:
    end = time.monotonic() + rng.uniform(*THINK)
    while recorder.running and time.monotonic() < end:
        time.sleep(0.1)


def clerk_loop(clerk: Clerk, sample: Sample, recorder: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    while recorder.running:
        member_id, key = rng.choice(sample.members)
        if rng.random() < 0.5:
            recorder.timed("search_key", clerk, "/admin/members/member/?q=" + key)
        else:
            q = urllib.parse.quote(rng.choice(sample.kana_prefixes))
            recorder.timed("search_kana", clerk, "/admin/members/member/?q=" + q)
        think(recorder, rng)
        if not recorder.running:
            break
        recorder.timed("member_page", clerk, f"/admin/members/member/{member_id}/change/")
        think(recorder, rng)
        if recorder.running and rng.random() < 0.35:
            log_inquiry(clerk, sample, recorder, rng, member_id)
        if recorder.running and rng.random() < 0.15:
            recorder.timed("floor", clerk, "/admin/password_change/")
            think(recorder, rng)


def log_inquiry(clerk: Clerk, sample: Sample, recorder: Recorder, rng, member_id: int) -> None:
    term = urllib.parse.quote(rng.choice(sample.kana_prefixes))
    recorder.timed(
        "autocomplete",
        clerk,
        "/admin/autocomplete/?app_label=inquiries&model_name=inquiry&field_name=member"
        f"&term={term}",
    )
    status, _, _ = recorder.timed(
        "inquiry_form", clerk, f"/admin/inquiries/inquiry/add/?member={member_id}"
    )
    think(recorder, rng)  # listening and typing
    if not recorder.running or status != 200:
        return
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    recorder.timed(
        "inquiry_save",
        clerk,
        "/admin/inquiries/inquiry/add/",
        {
            "received_at_0": now.strftime("%Y-%m-%d"),
            "received_at_1": now.strftime("%H:%M:%S"),
            "channel": "phone",
            "caller_role": "member",
            "member": str(member_id),
            "caller_name": "",
            "category": str(rng.choice(sample.categories)),
            "question": "資格確認書はいつ届きますか（負荷試験）",
            "answer": "今月末までに事業所経由でお送りします。",
            "status": "closed",
            "follow_up_on": "",
            "application": "",
            "lost_card_case": "",
            "_save": "保存",
        },
        expect=(302,),
    )
    think(recorder, rng)


# --- the batch, the load average, the locks --------------------------------------------------


class Monitor(threading.Thread):
    """Every second: the load average, and web backends waiting on a lock (with the
    statement of the backend blocking them)."""

    def __init__(self, base: str, database: str, recorder: Recorder) -> None:
        super().__init__(daemon=True)
        self.base, self.database, self.recorder = base, database, recorder
        self.load = defaultdict(list)
        self.lock_waits = defaultdict(int)
        self.blockers: dict[str, int] = defaultdict(int)
        self.stop = threading.Event()

    def run(self) -> None:
        with admin_connect(self.base, self.database) as conn:
            while not self.stop.wait(1.0):
                phase = self.recorder.phase
                self.load[phase].append(float(Path("/proc/loadavg").read_text().split()[0]))
                rows = conn.execute(
                    """
                    SELECT w.pid, b.query
                    FROM pg_stat_activity w
                    CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
                    JOIN pg_stat_activity b ON b.pid = blocker.pid
                    WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'
                    """
                ).fetchall()
                self.lock_waits[phase] += len({row[0] for row in rows})
                for _, query in rows:
                    self.blockers[" ".join((query or "").split())[:160]] += 1


def start_batch(env: dict[str, str], day: str, logs: Path) -> subprocess.Popen:
    command = (
        f"{sys.executable} manage.py run_nightly --date {day} --force && "
        f"{sys.executable} manage.py issue_certificates --date {day} --force"
    )
    log = (logs / "batch.log").open("w")
    # No CELERY_BROKER_URL in env: the batch's PDFs are rendered in-process after its commit.
    return subprocess.Popen(
        ["sh", "-c", command],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def web_config(args, env: dict[str, str]) -> str:
    """What the web server and the batch run with: gunicorn.conf.py, then the options."""
    import runpy

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        conn_max_age = os.environ.get("DB_CONN_MAX_AGE", "0")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    worker_class, threads = config.get("worker_class", "sync"), config.get("threads", 1)
    for option in args.gunicorn_arg:
        name, _, value = option.lstrip("-").partition("=")
        if name == "worker-class":
            worker_class = value
        if name == "threads":
            threads = int(value)
    return (
        f"gunicorn workers={args.workers} {worker_class}x{threads} conn_max_age={conn_max_age} "
        f"job_niceness={env.get('JOB_NICENESS', '10')}"
    )


def start_gunicorn(args, env: dict[str, str], logs: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "insurer.wsgi:application"]
    command += ["--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers)]
    command += ["--timeout", "120", *args.gunicorn_arg]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=(logs / "gunicorn.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("gunicorn exited:\n" + (logs / "gunicorn.log").read_text()[-3000:])
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/admin/login/", timeout=5)
            return process
        time.sleep(0.5)
    sys.exit("gunicorn did not answer within 60 s")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process, its live children and its reaped ones:
    gunicorn's master and workers. Independent of how busy the rest of the machine is."""
    tick = os.sysconf("SC_CLK_TCK")

    def fields(path: Path) -> list[str]:
        return path.read_text().rsplit(")", 1)[1].split()

    total = 0.0
    with contextlib.suppress(OSError):
        own = fields(Path(f"/proc/{pid}/stat"))
        total += sum(int(v) for v in own[11:15]) / tick  # utime stime cutime cstime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            values = fields(stat)
            if int(values[1]) == pid:  # ppid
                total += (int(values[11]) + int(values[12])) / tick
    return total


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- figures -------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(
    recorder: Recorder, monitor: Monitor, args, members: int, batch_note: str, cpu: dict
) -> None:
    print()
    print(f"{'phase':6} {'action':13} {'n':>5} {'err':>4} {'p50':>6} {'p95':>6} {'p99':>6} ms")
    p95 = {}
    for phase in ("quiet", "batch"):
        for action in ACTIONS:
            values = recorder.timings.get((phase, action), [])
            if not values:
                continue
            p95[(phase, action)] = quantile(values, 0.95)
            errors = recorder.errors.get((phase, action), [])
            print(
                f"{phase:6} {action:13} {len(values):5d} {len(errors):4d} "
                f"{ms(quantile(values, 0.5)):>6} {ms(p95[(phase, action)]):>6} "
                f"{ms(quantile(values, 0.99)):>6}"
            )
    for (phase, action), errors in recorder.errors.items():
        for line in errors[:3]:
            print(f"  error {phase} {action}: {line}")
    for phase in ("quiet", "batch"):
        load = monitor.load.get(phase) or [0.0]
        print(
            f"load average (1 min) {phase}: mean {statistics.mean(load):.2f}, max {max(load):.2f}; "
            f"web requests seen waiting on a lock: {monitor.lock_waits.get(phase, 0)} samples"
        )
    for query, count in sorted(monitor.blockers.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  blocked by ({count}×): {query}")
    print(batch_note)
    cpu_per_request = {}
    for phase, before in (("quiet", "start"), ("batch", "quiet")):
        count = sum(len(v) for (p, _), v in recorder.timings.items() if p == phase)
        if count and phase in cpu:
            cpu_per_request[phase] = (cpu[phase] - cpu[before]) / count
            print(
                f"gunicorn CPU {phase}: {cpu[phase] - cpu[before]:.1f} s for {count} requests, "
                f"{cpu_per_request[phase] * 1000:.0f} ms per request"
            )
    worst = max(
        (p95.get(("batch", a), 0.0) for a in SEARCH_ACTIONS if ("batch", a) in p95),
        default=0.0,
    )
    floor_batch = p95.get(("batch", "floor"), 0.0)
    floor_quiet = p95.get(("quiet", "floor"), 0.0)
    errors = sum(len(v) for v in recorder.errors.values())
    parts = [f"clerks={args.clerks} N={members:,} {args.web_config}"]
    for phase in ("quiet", "batch"):
        figures = " ".join(
            f"{a}={ms(p95[(phase, a)])}" for a in ACTIONS if (phase, a) in p95 and a != "floor"
        )
        parts.append(f"{phase} p95 ms: {figures}")
    parts.append(f"floor p95 ms quiet={ms(floor_quiet)} batch={ms(floor_batch)}")
    if cpu_per_request:
        parts.append(
            "web CPU ms/request "
            + " ".join(f"{phase}={ms(value)}" for phase, value in cpu_per_request.items())
        )
    if floor_batch:
        parts.append(f"worst batch p95 {ms(worst)} ms = {worst / floor_batch:.1f}x batch floor")
    load = monitor.load.get("batch") or [0.0]
    parts.append(f"errors={errors} load(batch mean)={statistics.mean(load):.2f}")
    print(" | ".join(parts))


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--clone-from", help="a seeded database to copy (never used itself)")
    parser.add_argument("--database", default="insurer_bench_clerks")
    parser.add_argument("--reuse", action="store_true", help="use --database as it is")
    parser.add_argument("--date", default=datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat())
    parser.add_argument("--clerks", type=int, default=20)
    parser.add_argument("--warmup-seconds", type=float, default=15)
    parser.add_argument("--quiet-seconds", type=float, default=90)
    parser.add_argument("--batch-seconds", type=float, default=180)
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--port", type=int, default=8741)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="passed on, e.g. --gunicorn-arg=--threads=4",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/clerks.py needs PostgreSQL: set DATABASE_URL")

    workdir = Path(tempfile.mkdtemp(prefix="bench-clerks-"))
    (workdir / "files").mkdir()
    env = production_env(database_url(base, args.database), workdir)
    if args.reuse:
        with admin_connect(base, args.database) as conn:  # keys are fresh each run
            conn.execute("TRUNCATE members_mynumber, members_mynumberhashkey")
        manage(env, "migrate", "--noinput")
    else:
        prepare_database(args, base, env)
    build_env = {**env, "DJANGO_DEBUG": "1"}
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "MY_NUMBER_KEYS", "MY_NUMBER_HASH_KEY"):
        build_env.pop(name)
    manage(build_env, "collectstatic", "--noinput")
    manage(env, "shell", "-c", CREATE_CLERKS.format(count=args.clerks, password=PASSWORD))
    with admin_connect(base, args.database) as conn:
        members = conn.execute("SELECT count(*) FROM members_member").fetchone()[0]
    sample = sample_register(base, args.database)
    print(f"register: {members:,} members; logs in {workdir}", flush=True)

    args.web_config = web_config(args, env)
    print(args.web_config, flush=True)
    gunicorn = start_gunicorn(args, env, workdir)
    batch = None
    recorder = Recorder()
    monitor = Monitor(base, args.database, recorder)
    try:
        base_url = f"http://127.0.0.1:{args.port}"
        clerks = [Clerk(base_url, f"benchclerk{i:02d}") for i in range(args.clerks)]
        for clerk in clerks:
            clerk.log_in()
        threads = [
            threading.Thread(target=clerk_loop, args=(clerk, sample, recorder, i), daemon=True)
            for i, clerk in enumerate(clerks)
        ]
        monitor.start()
        for thread in threads:
            thread.start()
            time.sleep(THINK[1] / len(threads))  # not all at the same instant
        time.sleep(args.warmup_seconds)
        cpu = {"start": tree_cpu_seconds(gunicorn.pid)}
        recorder.phase = "quiet"
        time.sleep(args.quiet_seconds)
        cpu["quiet"] = tree_cpu_seconds(gunicorn.pid)
        batch_note = "no batch"
        if not args.no_batch:
            recorder.phase = "batch"
            started = time.monotonic()
            batch = start_batch(env, args.date, workdir)
            while batch.poll() is None and time.monotonic() - started < args.batch_seconds:
                time.sleep(1)
            seconds = time.monotonic() - started
            log = (workdir / "batch.log").read_text()
            if batch.poll() is None:
                stop(batch)
                phase = "issuing" if "夜間処理" in log else "nightly"
                batch_note = f"batch: stopped after {seconds:.0f} s, still in {phase} " + (
                    "(its committed chunks stay)"
                    if phase == "issuing"
                    else "(one transaction: nothing of it kept)"
                )
            else:
                lines = " / ".join(line.strip() for line in log.splitlines() if line.strip())
                batch_note = (
                    f"batch: finished in {seconds:.0f} s (exit {batch.returncode}): {lines[-400:]}"
                )
        cpu["batch"] = tree_cpu_seconds(gunicorn.pid)
        recorder.running = False
        for thread in threads:
            thread.join(timeout=90)
        monitor.stop.set()
        monitor.join(timeout=5)
    finally:
        recorder.running = False
        if batch is not None:
            stop(batch)
        stop(gunicorn)
    report(recorder, monitor, args, members, batch_note, cpu)
    if not args.keep and not args.reuse:
        with admin_connect(base) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
