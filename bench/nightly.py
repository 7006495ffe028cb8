"""Benchmark: the nightly jobs over N members against one hand-written SQL statement.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/nightly.py --members 100000

Creates (and afterwards drops) a database `insurer_bench` on the server of DATABASE_URL,
seeds N members with the demo generator, runs the nightly jobs for one date, then times a
single hand-written SQL statement computing the same `certificate_needed` flags on the
same data (and checks that both agree). The last line holds the figures and the ratio.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE_SQL = """
SELECT m.id,
       CASE
         WHEN s.member_id IS NULL OR s.card = 'none' THEN 'no_card'
         WHEN s.card = 'held' AND s.registration = 'unregistered' THEN 'not_registered'
         WHEN s.dereg_requested_on IS NOT NULL OR s.registration = 'deregistered' THEN 'deregistered'
         WHEN s.registration = 'registered' AND s.ecert_expires_on < %(grace)s THEN 'ecert_expired'
         WHEN s.card = 'returned' THEN 'card_returned'
       END AS reason
FROM members_member m
LEFT JOIN members_mynastatus s ON s.member_id = m.id
WHERE m.acquired_on <= %(d)s
  AND (m.lost_on IS NULL OR m.lost_on > %(d)s)
  AND m.birth_date > %(cutoff)s
  AND (m.relationship = 'self' OR NOT EXISTS (
        SELECT 1 FROM members_member i
        WHERE i.symbol = m.symbol AND i.number = m.number AND i.relationship = 'self'
          AND (i.lost_on <= %(d)s OR i.birth_date <= %(cutoff)s)))
  AND (s.member_id IS NULL OR s.card <> 'held' OR s.registration <> 'registered'
       OR s.dereg_requested_on IS NOT NULL OR s.ecert_expires_on < %(grace)s)
"""


def bench_database_url(base: str) -> str:
    parts = urlparse(base)
    return urlunparse(parts._replace(path="/insurer_bench"))


def admin_connection(base: str):
    import psycopg

    parts = urlparse(base)
    conn = psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True)
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/nightly.py needs PostgreSQL: set DATABASE_URL")
    with admin_connection(base) as conn:
        conn.execute("DROP DATABASE IF EXISTS insurer_bench")
        conn.execute("CREATE DATABASE insurer_bench")
    os.environ["DATABASE_URL"] = bench_database_url(base)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    os.environ.pop("CELERY_BROKER_URL", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from insurer.services import nightly_run
    from members.demo import seed_demo
    from members.flags import ecert_past_grace_before
    from members.models import Flag
    from members.rules import born_after_for_under

    day = date.fromisoformat(args.date)
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = seed_demo(members=args.members, today=day, with_my_numbers=False)
        print(
            f"seeded {seeded.members:,} members in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

        started = time.perf_counter()
        run = nightly_run(run_date=day, trigger="bench")
        nightly_seconds = time.perf_counter() - started
        assert run.status == "succeeded", run.error
        started = time.perf_counter()
        nightly_run(run_date=day, trigger="bench", force=True)
        rerun_seconds = time.perf_counter() - started

        params = {
            "d": day,
            "cutoff": born_after_for_under(day, 75),
            "grace": ecert_past_grace_before(day),
        }
        timings, rows = [], []
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")  # the baseline at its best, as the job runs
        for _ in range(3):
            with connection.cursor() as cursor:
                started = time.perf_counter()
                cursor.execute(BASELINE_SQL, params)
                rows = cursor.fetchall()
                timings.append(time.perf_counter() - started)
        baseline_seconds = statistics.median(timings)
        flags = set(
            Flag.objects.filter(kind="certificate_needed", closed_on__isnull=True).values_list(
                "member_id", "reason"
            )
        )
        agree = flags == set(rows)
        print(f"first run steps: {run.counts['seconds']}")

        print(
            f"first run opened {sum(run.counts['opened'].values()):,} flags; re-run {rerun_seconds:.2f} s; "
            f"baseline rows {len(rows):,}; job and baseline agree: {agree}"
        )
        if not agree:
            sys.exit("the job and the baseline disagree")
        print(
            f"nightly members={seeded.members} seconds={nightly_seconds:.2f} "
            f"members_per_second={seeded.members / nightly_seconds:.0f} "
            f"baseline_sql_seconds={baseline_seconds:.3f} ratio={nightly_seconds / baseline_seconds:.2f} "
            f"rerun_seconds={rerun_seconds:.2f} rerun_ratio={rerun_seconds / baseline_seconds:.2f}"
        )
    finally:
        connection.close()
        if not args.keep:
            with admin_connection(base) as conn:
                conn.execute("DROP DATABASE IF EXISTS insurer_bench")


if __name__ == "__main__":
    main()
