"""Benchmark: the member import into an N-member register, against a hand-written floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/import.py --members 1000000 --rows 20000

Creates (and afterwards drops, unless --keep) a database `insurer_bench_import` on the
server of DATABASE_URL, seeds N members with the demo generator (with My Numbers) — or,
with `--database NAME`, uses that existing database as it is (e.g. a clone of a seeded
1,000,000-member register: `createdb -T insurer_1m_template NAME`; it is not dropped; the
new members are removed after each run, the changed members and statuses stay changed) — then runs the real `import` command (`manage.py import
members.resources.MemberResource` or `…MynaStatusResource`, in a child process) on

  (a) a file of ROWS new members (households of an insured person and a child, every row
      with a My Number),
  (b) a file of ROWS stored members with a new address (and, for insured persons, a new
      standard monthly remuneration), and
  (c) a status.csv of ROWS stored members (national data with a new as_of and e-cert
      expiry: nearly all updates, a few new statuses),

RUNS times each (medians reported), and once (`--big-rows`, default 200,000; 0 to skip)
(d) a file of that many new members, for its time and peak RSS (memory must not grow
with the file: the import streams it).

Each import's seconds are timed inside the child around the command (Django start-up not
counted); its memory is the child's peak RSS (``VmHWM`` read by the child at the end: the
whole process, Django included; rusage's ``ru_maxrss`` would include the parent's peak,
inherited through fork and exec). The floor, measured in the same run on the same files, is what
the database work costs written by hand: read the CSV, COPY it into a scratch table, one
INSERT … SELECT (a, d) or UPDATE … FROM (b, c) into members_member (members_mynastatus)
and one INSERT … SELECT into its history table, in one transaction (rolled back so that
the import finds the register as it was; it writes no My Numbers). The last line holds
the figures and the ratios (import seconds / floor seconds).
"""

import argparse
import csv
import io
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "insurer_bench_import"
RESOURCE = "members.resources.MemberResource"
STATUS_RESOURCE = "members.resources.MynaStatusResource"
STATUS_REASON = "国の状態データ取込（status.csv）"
REASON = "ファイル取込（members.csv）"
# File column -> members_member column (the others have the same name).
COLUMN_OF = {
    "income_reduction": "has_income_reduction",
    "certificate_requested": "is_certificate_requested",
}
DATE_COLUMNS = {
    "birth_date",
    "acquired_on",
    "lost_on",
    "notified_on",
    "oqs_registered_on",
    "voluntary_until",
    "residence_expires_on",
}


def admin_connection(base: str):
    import psycopg

    parts = urlparse(base)
    return psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True)


def bench_environment(base: str) -> dict[str, str]:
    """Real keys (random for this run): the settings refuse to start without them."""
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    env.pop("CELERY_BROKER_URL", None)
    if env.get("DJANGO_DEBUG", "0") in ("", "0"):
        env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        env.setdefault("MY_NUMBER_KEYS", Fernet.generate_key().decode())
        env.setdefault("MY_NUMBER_HASH_KEY", secrets.token_urlsafe(48))
    return env


# --- the files ---------------------------------------------------------------------------


def new_members_file(path: Path, rows: int, day: date) -> None:
    """ROWS new people: households (insured person and a child) with numbers above any
    the demo register uses, spread over the offices, each with a valid My Number."""
    from insurer.models import Office
    from members.demo import demo_my_number
    from members.resources import MEMBER_COLUMNS

    offices = list(Office.objects.order_by("symbol").values_list("symbol", flat=True))
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(MEMBER_COLUMNS)
        for index in range(rows):
            household, child = divmod(index, 2)
            symbol = offices[household % len(offices)]
            insured = child == 0
            values = {
                "symbol": symbol,
                "number": str(90_000_000 + household),
                "branch": f"{child:02d}",
                "relationship": "self" if insured else "child",
                "family_name": "新田",
                "given_name": "一郎" if insured else "花子",
                "family_name_kana": "ニッタ",
                "given_name_kana": "イチロウ" if insured else "ハナコ",
                "birth_date": "1985-04-01" if insured else "2015-06-01",
                "sex": "1" if insured else "2",
                "postal_code": "100-0001",
                "address": f"東京都千代田区千代田{household % 100 + 1}-1",
                "acquired_on": day.replace(day=1).isoformat(),
                "standard_monthly_remuneration": "300000" if insured else "",
                "my_number": demo_my_number(9_000_000 + index),  # the demo uses < 9,000,000
                "certificate_requested": "1" if index % 10 == 0 else "",
            }
            writer.writerow([values.get(column, "") for column in MEMBER_COLUMNS])


def changed_members_file(path: Path, rows: int, run: int) -> int:
    """ROWS stored members spread over the register, as the export writes them, with a
    new address and, for insured persons, a new standard monthly remuneration."""
    from members.models import Member
    from members.resources import MemberResource

    total = Member.objects.count()
    step = max(1, total // rows)
    ids = list(Member.objects.order_by("id").values_list("id", flat=True)[::step][:rows])
    dataset = MemberResource().export(Member.objects.filter(id__in=ids).order_by("id"))
    address = dataset.headers.index("address")
    remuneration = dataset.headers.index("standard_monthly_remuneration")
    relationship = dataset.headers.index("relationship")
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(dataset.headers)
        for index, row in enumerate(dataset):
            row = list(row)
            row[address] = f"大阪府大阪市北区梅田{index % 100 + 1}-{run + 2}-3 転居先"
            if row[relationship] == "self":
                row[remuneration] = str(int(row[remuneration] or 280_000) + 10_000 * (run + 1))
            writer.writerow(row)
    return len(dataset)  # fewer than ROWS when the register is smaller


def status_file(path: Path, rows: int, run: int, day: date) -> int:
    """ROWS stored members spread over the register (another slice than the changed
    file's), with national data dated `day` and a new e-certificate expiry each run."""
    from members.models import Member
    from members.resources import STATUS_COLUMNS

    total = Member.objects.count()
    step = max(1, total // rows)
    keys = list(
        Member.objects.order_by("id").values_list("office_id", "number", "branch")[
            step // 2 :: step
        ][:rows]
    )
    expiry = date(2028 + run % 8, 3, 31).isoformat()  # within ten years of the import day
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(STATUS_COLUMNS)
        for index, (symbol, number, branch) in enumerate(keys):
            card, registration = ("held", "registered") if index % 3 else ("none", "unregistered")
            writer.writerow(
                [
                    symbol,
                    number,
                    branch,
                    day.isoformat(),
                    card,
                    registration,
                    expiry if card == "held" else "",
                ]
            )
    return len(keys)


# --- the import, in a child process ------------------------------------------------------


def run_child(
    path: Path, day: date, env: dict[str, str], resource: str = RESOURCE
) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, summary line) of one `import` in its own process."""
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            str(path),
            "--date",
            day.isoformat(),
            "--resource",
            resource,
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read()
    _, status, _ = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"the import failed:\n{output}")
    lines = output.strip().splitlines()
    seconds, peak_kb = lines[-1].split()
    return float(seconds), int(peak_kb) / 1024, lines[-2]


def child(path: str, day: str, resource: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    call_command(
        "import",
        resource,
        path,
        format="csv",
        interactive=False,
        date=day,
        stdout=stdout,
        stderr=stderr,
    )
    seconds = time.perf_counter() - started
    print(stdout.getvalue().strip().splitlines()[-1])
    print(f"{seconds:.4f} {peak_rss_kb()}")


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not rusage's ru_maxrss: a child started
    by fork/vfork + exec keeps the parent's peak in it (the kernel folds the old memory's
    high-water mark into the process's maxrss at exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# --- the floor ---------------------------------------------------------------------------


def floor(path: Path, *, update: bool) -> float:
    """Seconds to write the file's rows and their history by hand (then rolled back)."""
    from django.db import connection, transaction

    from members.models import Member

    history_table = Member.history.model._meta.db_table
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        keep = [index for index, name in enumerate(header) if name != "my_number"]
        columns = [COLUMN_OF.get(header[index], header[index]) for index in keep]

        def value(column: str, text: str):
            if column in DATE_COLUMNS or column == "standard_monthly_remuneration":
                return text or None
            if column.startswith(("has_", "is_")):
                return text == "1"
            return text

        rows = [[value(columns[i], row[index]) for i, index in enumerate(keep)] for row in reader]
    names = ", ".join(columns)
    tracked = [
        field.column
        for field in Member.history.model._meta.concrete_fields
        if not field.name.startswith("history_")
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE floor_rows ON COMMIT DROP AS "
            f"SELECT {names} FROM members_member WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY floor_rows ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if update:
            assignments = ", ".join(
                f"{c} = s.{c}" for c in columns if c not in ("symbol", "number", "branch")
            )
            cursor.execute(
                f"UPDATE members_member m SET {assignments}, updated_at = now() "
                "FROM floor_rows s WHERE m.symbol = s.symbol AND m.number = s.number "
                "AND m.branch = s.branch"
            )
        else:
            cursor.execute(
                f"INSERT INTO members_member ({names}, has_unregistrable_name, created_at, "
                f"updated_at) SELECT {names}, false, now(), now() FROM floor_rows"
            )
        history = ", ".join(tracked)
        cursor.execute(
            f"INSERT INTO {history_table} ({history}, history_date, history_type, "
            f"history_change_reason) SELECT {', '.join('m.' + c for c in tracked)}, now(), "
            f"%s, %s FROM members_member m JOIN floor_rows s ON m.symbol = s.symbol "
            "AND m.number = s.number AND m.branch = s.branch",
            ["~" if update else "+", REASON],
        )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def status_floor(path: Path) -> float:
    """Seconds to write a status file's rows and their history by hand (rolled back):
    COPY, then INSERT … ON CONFLICT DO UPDATE into members_mynastatus by the members'
    keys, then one INSERT … SELECT into its history table."""
    from django.db import connection, transaction

    from members.models import MynaStatus

    history_table = MynaStatus.history.model._meta.db_table
    tracked = [
        field.column
        for field in MynaStatus.history.model._meta.concrete_fields
        if not field.name.startswith("history_")
    ]
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        rows = [[*row[:6], row[6] or None] for row in reader]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE floor_status (symbol text, number text, branch text, "
            "as_of date, card text, registration text, ecert_expires_on date) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY floor_status FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO members_mynastatus (member_id, card, registration, ecert_expires_on, "
            "as_of, updated_at) SELECT m.id, s.card, s.registration, s.ecert_expires_on, "
            "s.as_of, now() FROM floor_status s JOIN members_member m ON m.symbol = s.symbol "
            "AND m.number = s.number AND m.branch = s.branch ON CONFLICT (member_id) DO "
            "UPDATE SET card = excluded.card, registration = excluded.registration, "
            "ecert_expires_on = excluded.ecert_expires_on, as_of = excluded.as_of, "
            "updated_at = now()"
        )
        history = ", ".join(tracked)
        cursor.execute(
            f"INSERT INTO {history_table} ({history}, history_date, history_type, "
            f"history_change_reason) SELECT {', '.join('t.' + c for c in tracked)}, now(), "
            "'~', %s FROM members_mynastatus t JOIN members_member m ON m.id = t.member_id "
            "JOIN floor_status s ON m.symbol = s.symbol AND m.number = s.number "
            "AND m.branch = s.branch",
            [STATUS_REASON],
        )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--big-rows", type=int, default=200_000, help="0: no big file")
    parser.add_argument("--runs", type=int, default=1, help="median of this many runs")
    parser.add_argument(
        "--first-run",
        type=int,
        default=0,
        help="number the runs from here (on a --database an earlier run changed already)",
    )
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--database", help="an existing (seeded) database to use as it is")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--resource", default=RESOURCE, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.date, args.resource)
        return
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/import.py needs PostgreSQL: set DATABASE_URL")
    database = args.database or DATABASE
    if not args.database:
        with admin_connection(base) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
            conn.execute(f"CREATE DATABASE {DATABASE}")
    env = bench_environment(base)
    env["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{database}"))
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from members.demo import seed_demo
    from members.models import Member, MyNumber, MyNumberAccessLog

    day = date.fromisoformat(args.date)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-import-{os.getpid()}"
    work.mkdir(exist_ok=True)

    def remove_new_members() -> None:
        """The next run finds the register as the first did: the new rows go, without
        signals (no deletion history rows); the changed ones change again."""
        gone = Member.objects.filter(number__regex=r"^9[0-9]{7}$")
        ids = list(gone.values_list("id", flat=True))
        for queryset in (
            MyNumberAccessLog.objects.filter(member_id__in=ids),
            MyNumber.history.filter(member_id__in=ids),
            MyNumber.objects.filter(member_id__in=ids),
            Member.history.filter(id__in=ids),
            Member.objects.filter(id__in=ids),
        ):
            queryset._raw_delete(queryset.db)

    try:
        if args.database:
            members = Member.objects.count()
            print(f"using {database}: {members:,} members")
            remove_new_members()  # a run stopped half-way may have left some
        else:
            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            members = seed_demo(members=args.members, today=day).members
            print(f"seeded {members:,} members in {time.perf_counter() - started:.1f} s")
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        kinds = ("new", "changed", "status")
        results = {kind: [] for kind in kinds}
        counts = {}
        for run in range(args.runs):
            new_path, changed_path = work / f"new-{run}.csv", work / f"changed-{run}.csv"
            status_path = work / f"status-{run}.csv"
            new_members_file(new_path, args.rows, day)
            changed_rows = changed_members_file(changed_path, args.rows, args.first_run + run)
            status_rows = status_file(status_path, args.rows, args.first_run + run, day)
            for kind, path, rows, resource, measure_floor in (
                ("new", new_path, args.rows, RESOURCE, lambda p: floor(p, update=False)),
                ("changed", changed_path, changed_rows, RESOURCE, lambda p: floor(p, update=True)),
                ("status", status_path, status_rows, STATUS_RESOURCE, status_floor),
            ):
                floor_seconds = measure_floor(path)
                connection.close()  # the child has the database to itself
                seconds, rss, summary = run_child(path, day, env, resource)
                results[kind].append((seconds, rss, floor_seconds))
                counts[kind] = rows
                print(
                    f"run {run + 1} {kind}: {rows:,} rows in {seconds:.2f} s, "
                    f"{rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB, "
                    f"floor {floor_seconds:.2f} s, ratio {seconds / floor_seconds:.2f}, "
                    f"load {load_average()} — {summary}",
                    flush=True,
                )
            remove_new_members()
        figures = []
        for kind in kinds:
            seconds = statistics.median(s for s, _, _ in results[kind])
            rss = max(r for _, r, _ in results[kind])
            floor_seconds = statistics.median(f for _, _, f in results[kind])
            figures.append(
                f"{kind}_rows={counts[kind]} {kind}_seconds={seconds:.2f} "
                f"{kind}_rows_per_second={counts[kind] / seconds:.0f} "
                f"{kind}_floor_seconds={floor_seconds:.2f} "
                f"{kind}_ratio={seconds / floor_seconds:.2f} {kind}_peak_rss_mb={rss:.0f}"
            )
        if args.big_rows:
            big_path = work / "big.csv"
            new_members_file(big_path, args.big_rows, day)
            floor_seconds = floor(big_path, update=False)
            connection.close()
            seconds, rss, summary = run_child(big_path, day, env)
            print(
                f"big new: {args.big_rows:,} rows in {seconds:.2f} s, "
                f"{args.big_rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB, "
                f"floor {floor_seconds:.2f} s, load {load_average()} — {summary}",
                flush=True,
            )
            remove_new_members()
            figures.append(
                f"big_rows={args.big_rows} big_seconds={seconds:.2f} "
                f"big_rows_per_second={args.big_rows / seconds:.0f} "
                f"big_floor_seconds={floor_seconds:.2f} "
                f"big_ratio={seconds / floor_seconds:.2f} big_peak_rss_mb={rss:.0f}"
            )
        print(
            f"import members={members} runs={args.runs} load={load_average().split()[0]} "
            + " ".join(figures)
        )
    finally:
        connection.close()
        if not args.keep:
            for file in work.glob("*.csv"):
                file.unlink()
            work.rmdir()
        if not args.keep and not args.database:
            with admin_connection(base) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")


if __name__ == "__main__":
    main()
