"""Benchmark: the member import into an N-member register, against a hand-written floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/import.py --members 1000000 --rows 20000

Creates (and afterwards drops, unless --keep) a database `insurer_bench_import` on the
server of DATABASE_URL, seeds N members with the demo generator (with My Numbers), then
runs the real `import` command (`manage.py import members.resources.MemberResource`, in a
child process) on

  (a) a file of ROWS new members (households of an insured person and a child, every row
      with a My Number), and
  (b) a file of ROWS stored members with a new address (and, for insured persons, a new
      standard monthly remuneration).

Each import's seconds are timed inside the child around the command (Django start-up not
counted); its memory is the child's peak RSS (``os.wait4`` rusage ``ru_maxrss``: the whole
process, Django included). The floor, measured in the same run on the same files, is what
the database work costs written by hand: read the CSV, COPY it into a scratch table, one
INSERT … SELECT (a) or UPDATE … FROM (b) into members_member and one INSERT … SELECT into
its history table, in one transaction (rolled back so that the import finds the register
as it was; it writes no My Numbers). The last line holds the figures and the ratios.
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
    env["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{DATABASE}"))
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


# --- the import, in a child process ------------------------------------------------------


def run_child(path: Path, day: date, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, summary line) of one `import` in its own process."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(path), "--date", day.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"the import failed:\n{output}")
    lines = output.strip().splitlines()
    seconds = float(lines[-1])
    return seconds, usage.ru_maxrss / 1024, lines[-2]


def child(path: str, day: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    call_command(
        "import",
        RESOURCE,
        path,
        format="csv",
        interactive=False,
        date=day,
        stdout=stdout,
        stderr=stderr,
    )
    seconds = time.perf_counter() - started
    print(stdout.getvalue().strip().splitlines()[-1])
    print(f"{seconds:.4f}")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1, help="median of this many runs")
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.date)
        return
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/import.py needs PostgreSQL: set DATABASE_URL")
    with admin_connection(base) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    env = bench_environment(base)
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
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = seed_demo(members=args.members, today=day)
        print(f"seeded {seeded.members:,} members in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        results = {"new": [], "changed": []}
        counts = {}
        for run in range(args.runs):
            new_path, changed_path = work / f"new-{run}.csv", work / f"changed-{run}.csv"
            new_members_file(new_path, args.rows, day)
            changed_rows = changed_members_file(changed_path, args.rows, run)
            for kind, path, update, rows in (
                ("new", new_path, False, args.rows),
                ("changed", changed_path, True, changed_rows),
            ):
                floor_seconds = floor(path, update=update)
                connection.close()  # the child has the database to itself
                seconds, rss, summary = run_child(path, day, env)
                results[kind].append((seconds, rss, floor_seconds))
                counts[kind] = rows
                print(
                    f"run {run + 1} {kind}: {rows:,} rows in {seconds:.2f} s, "
                    f"{rows / seconds:,.0f} rows/s, "
                    f"peak RSS {rss:.0f} MB, floor {floor_seconds:.2f} s — {summary}",
                    flush=True,
                )
            # The next run finds the register as the first did: the new rows go, without
            # signals (no deletion history rows), and the changed ones change again.
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
        figures = []
        for kind in ("new", "changed"):
            seconds = statistics.median(s for s, _, _ in results[kind])
            rss = max(r for _, r, _ in results[kind])
            floor_seconds = statistics.median(f for _, _, f in results[kind])
            figures.append(
                f"{kind}_rows={counts[kind]} {kind}_seconds={seconds:.2f} "
                f"{kind}_rows_per_second={counts[kind] / seconds:.0f} "
                f"{kind}_floor_seconds={floor_seconds:.2f} {kind}_ratio={seconds / floor_seconds:.2f} "
                f"{kind}_peak_rss_mb={rss:.0f}"
            )
        print(f"import members={seeded.members} runs={args.runs} " + " ".join(figures))
    finally:
        connection.close()
        if not args.keep:
            for file in work.glob("*.csv"):
                file.unlink()
            work.rmdir()
        if not args.keep:
            with admin_connection(base) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")


if __name__ == "__main__":
    main()
