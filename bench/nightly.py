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
import secrets
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The floor: every flag kind the job computes, written by hand as one statement — the
# active register read once (its flags from one CASE per kind), the certificates once
# (renewal_due, reissue_needed, return_requested). Same rules, no ORM, no temp tables.
ANNIVERSARY_75 = """(CASE WHEN EXTRACT(MONTH FROM {d}) = 2 AND EXTRACT(DAY FROM {d}) = 29
    AND EXTRACT(DAY FROM ({d} + interval '75 years')::date) = 28
    THEN ({d} + interval '75 years')::date + 1 ELSE ({d} + interval '75 years')::date END)"""
FLOOR_SQL = """
WITH open_lost AS (
  SELECT member_id FROM certificates_lostcardcase WHERE status = 'open'
),
accepted_lost AS (
  SELECT c.member_id FROM certificates_lostcardcase c
  JOIN certificates_application p ON p.lost_card_case_id = c.id
  WHERE c.status = 'open' AND p.kind = 'lost_card' AND p.status = 'approved'
),
care_needs AS (
  SELECT member_id FROM certificates_application
  WHERE kind = 'care_needs' AND status = 'approved'
),
status AS (
  SELECT m.*, s.member_id IS NULL AS no_status, s.card, s.registration, s.dereg_requested_on,
         s.ecert_expires_on,
         m.id IN (SELECT member_id FROM open_lost) AS lost_open,
         m.id IN (SELECT member_id FROM care_needs) AS care_needs,
         (m.is_certificate_requested
          AND (m.oqs_registered_on IS NULL OR m.oqs_registered_on > %(d)s)) AS awaiting
  FROM members_member m LEFT JOIN members_mynastatus s ON s.member_id = m.id
),
active AS (
  SELECT * FROM status m
  WHERE m.acquired_on <= %(d)s AND (m.lost_on IS NULL OR m.lost_on > %(d)s)
    AND m.birth_date > %(cut75)s
    AND (m.relationship = 'self' OR (m.symbol, m.number) NOT IN (
          SELECT i.symbol, i.number FROM members_member i WHERE i.relationship = 'self'
            AND (i.lost_on <= %(d)s OR i.birth_date <= %(cut75)s)))
),
member_flags AS (
  SELECT a.id AS member_id, k.kind, k.reason
  FROM active a
  CROSS JOIN LATERAL (VALUES
    ('certificate_needed',
     CASE WHEN a.id IN (SELECT c.member_id FROM certificates_certificate c
                        WHERE c.status = 'issued' AND c.valid_from <= %(d)s
                          AND c.valid_until >= %(d)s) THEN NULL
          WHEN a.no_status OR a.card = 'none' THEN 'no_card'
          WHEN a.card = 'held' AND a.registration = 'unregistered' THEN 'not_registered'
          WHEN a.dereg_requested_on IS NOT NULL OR a.registration = 'deregistered'
            THEN 'deregistered'
          WHEN a.registration = 'registered' AND a.ecert_expires_on < %(grace)s
            THEN 'ecert_expired'
          WHEN a.card = 'returned' THEN 'card_returned'
          WHEN a.awaiting THEN 'awaiting_registration'
          WHEN a.id IN (SELECT member_id FROM accepted_lost) THEN 'lost_card'
          WHEN a.care_needs THEN 'care_needs' END),
    ('name_unregistrable',
     CASE WHEN a.has_unregistrable_name AND a.registered_family_name = ''
            AND a.registered_given_name = '' THEN '' END),
    ('registration_overdue',
     CASE WHEN a.notified_on < %(overdue_before)s
            AND (a.oqs_registered_on IS NULL OR a.oqs_registered_on > %(d)s) THEN '' END),
    ('turning_70',
     CASE WHEN a.birth_date > %(from70)s AND a.birth_date <= %(to70)s THEN '' END),
    ('turning_75',
     CASE WHEN a.birth_date > %(from75)s AND a.birth_date <= %(to75)s THEN '' END)
  ) AS k(kind, reason)
  WHERE k.reason IS NOT NULL
),
certificate_rows AS (
  SELECT c.*, m.relationship AS m_relationship, m.acquired_on AS m_acquired_on,
         m.lost_on AS m_lost_on, m.birth_date AS m_birth_date,
         m.residence_expires_on AS m_residence_expires_on,
         c.valid_until + 1 AS next_day,
         i.lost_on AS i_lost_on, i.birth_date AS i_birth_date,
         i.has_income_reduction AS i_income_reduction,
         i.standard_monthly_remuneration AS i_remuneration,
         COALESCE(NULLIF(i.registered_family_name, ''), i.family_name) || ' '
           || COALESCE(NULLIF(i.registered_given_name, ''), i.given_name) AS i_name,
         m.acquired_on <= %(d)s AND (m.lost_on IS NULL OR m.lost_on > %(d)s)
           AND m.birth_date > %(cut75)s
           AND (m.relationship = 'self'
                OR NOT COALESCE(i.lost_on <= %(d)s OR i.birth_date <= %(cut75)s, false))
           AS active,
         s.card, s.registration, s.dereg_requested_on, s.ecert_expires_on,
         s.member_id IS NULL AS no_status, m.is_certificate_requested, m.oqs_registered_on,
         m.family_name AS m_family_name, m.given_name AS m_given_name,
         m.registered_family_name AS m_registered_family_name,
         m.registered_given_name AS m_registered_given_name,
         m.family_name_kana AS m_family_name_kana, m.given_name_kana AS m_given_name_kana,
         m.symbol AS m_symbol, m.number AS m_number, m.branch AS m_branch, m.sex AS m_sex,
         m.has_income_reduction AS m_income_reduction,
         m.standard_monthly_remuneration AS m_remuneration,
         m.id IN (SELECT member_id FROM open_lost) AS lost_open,
         m.id IN (SELECT member_id FROM care_needs) AS care_needs,
         c.valid_until < n.last_from AS has_successor
  FROM certificates_certificate c
  JOIN members_member m ON m.id = c.member_id
  LEFT JOIN members_member i ON i.symbol = m.symbol AND i.number = m.number
                             AND i.relationship = 'self'
  LEFT JOIN members_mynastatus s ON s.member_id = m.id
  LEFT JOIN (SELECT member_id, MAX(valid_from) AS last_from FROM certificates_certificate
             WHERE status IN ('issued', 'expired') GROUP BY member_id) n
         ON n.member_id = m.id
  WHERE c.status = 'issued' AND c.valid_until >= %(d)s
),
certificate_flags AS (
  SELECT DISTINCT c.member_id, k.kind, ''
  FROM certificate_rows c
  CROSS JOIN LATERAL (VALUES
    ('renewal_due',
     c.valid_until <= %(lead_until)s
     AND NOT COALESCE(c.has_successor, false)
     AND c.m_acquired_on <= c.next_day
     AND ANNIVERSARY_M > c.next_day
     AND (c.m_lost_on IS NULL OR c.m_lost_on > c.next_day)
     AND (c.m_relationship = 'self'
          OR NOT COALESCE(c.i_lost_on <= c.next_day OR ANNIVERSARY_I <= c.next_day, false))
     AND (c.m_residence_expires_on IS NULL OR c.m_residence_expires_on > c.valid_until)
     AND (c.no_status OR c.card = 'none'
          OR (c.card = 'held' AND c.registration = 'unregistered')
          OR c.dereg_requested_on IS NOT NULL OR c.registration = 'deregistered'
          OR (c.registration = 'registered' AND c.ecert_expires_on < %(grace)s)
          OR c.card = 'returned'
          OR (c.is_certificate_requested
              AND (c.oqs_registered_on IS NULL OR c.oqs_registered_on > %(d)s))
          OR c.member_id IN (SELECT member_id FROM accepted_lost)
          OR c.care_needs)),
    ('reissue_needed',
     c.valid_from <= %(d)s AND c.active
     AND (c.family_name <> COALESCE(NULLIF(c.m_registered_family_name, ''), c.m_family_name)
          OR c.given_name <> COALESCE(NULLIF(c.m_registered_given_name, ''), c.m_given_name)
          OR c.family_name_kana <> c.m_family_name_kana
          OR c.given_name_kana <> c.m_given_name_kana
          OR c.symbol <> c.m_symbol OR c.number <> c.m_number OR c.branch <> c.m_branch
          OR c.sex <> c.m_sex OR c.birth_date <> c.m_birth_date
          OR (c.is_dependent AND c.insured_name <> c.i_name)
          OR c.copay IS DISTINCT FROM (
               CASE WHEN c.m_birth_date > %(elderly_born_by)s THEN NULL
                    WHEN c.m_income_reduction OR c.i_income_reduction THEN 2
                    WHEN c.m_relationship = 'self' AND c.m_remuneration >= %(threshold)s THEN 3
                    WHEN c.m_relationship = 'self' THEN 2
                    WHEN c.i_remuneration >= %(threshold)s
                         AND c.i_birth_date <= %(elderly_born_by)s THEN 3
                    ELSE 2 END))),
    ('return_requested',
     NOT c.active
     OR (c.card = 'held' AND c.registration = 'registered' AND c.dereg_requested_on IS NULL
         AND (c.ecert_expires_on IS NULL OR c.ecert_expires_on >= %(grace)s)
         AND NOT c.lost_open AND NOT c.care_needs
         AND NOT (c.is_certificate_requested
                  AND (c.oqs_registered_on IS NULL OR c.oqs_registered_on > %(d)s))))
  ) AS k(kind, holds)
  WHERE k.holds
)
SELECT member_id, kind, reason FROM member_flags
UNION ALL
SELECT * FROM certificate_flags
""".replace("ANNIVERSARY_M", ANNIVERSARY_75.format(d="c.m_birth_date")).replace(
    "ANNIVERSARY_I", ANNIVERSARY_75.format(d="c.i_birth_date")
)


# Certificates for every open certificate_needed flag, written by hand (the bench's set-up,
# not the product's issuing): valid a year from D, printed from the member as it is.
CERTIFICATES_SQL = """
INSERT INTO certificates_certificate (
  reason, status, issued_on, valid_from, valid_until, is_dependent, family_name, given_name,
  family_name_kana, given_name_kana, sex, birth_date, acquired_on, symbol, number, branch,
  relationship, insurer_number, insurer_name, insurer_address, insured_name, copay,
  office_name, member_id)
SELECT f.reason, 'issued', %(d)s, %(d)s, %(until)s, m.relationship <> 'self',
  COALESCE(NULLIF(m.registered_family_name, ''), m.family_name),
  COALESCE(NULLIF(m.registered_given_name, ''), m.given_name),
  m.family_name_kana, m.given_name_kana, m.sex, m.birth_date, m.acquired_on, m.symbol,
  m.number, m.branch, m.relationship, '06123456', '健康保険組合', '',
  COALESCE(COALESCE(NULLIF(i.registered_family_name, ''), i.family_name) || ' '
           || COALESCE(NULLIF(i.registered_given_name, ''), i.given_name), ''),
  NULL, '', m.id
FROM members_flag f
JOIN members_member m ON m.id = f.member_id
LEFT JOIN members_member i ON i.symbol = m.symbol AND i.number = m.number
                           AND i.relationship = 'self'
WHERE f.closed_on IS NULL AND f.kind = 'certificate_needed'
"""
# A month of changes: one certificate holder in a hundred files a new kana (RI-1), one in
# a hundred is found with a usable マイナ保険証 (RT-1).
CHANGES_SQL = (
    """UPDATE members_member SET given_name_kana = given_name_kana || 'ア'
    WHERE id IN (SELECT member_id FROM certificates_certificate WHERE id % 100 = 1)""",
    """UPDATE members_mynastatus SET card = 'held', registration = 'registered',
      dereg_requested_on = NULL, ecert_expires_on = NULL
    WHERE member_id IN (SELECT member_id FROM certificates_certificate WHERE id % 100 = 2)""",
)


def floor_params(day: date, settings) -> dict:
    from members.flags import ecert_past_grace_before
    from members.rules import (
        REMUNERATION_THRESHOLD,
        add_months,
        born_after_for_under,
        first_of_month,
        month_end,
    )

    next_month = add_months(first_of_month(day), 1)
    return {
        "d": day,
        "cut75": born_after_for_under(day, 75),
        "grace": ecert_past_grace_before(day),
        "overdue_before": day - timedelta(days=settings.registration_deadline_days),
        "from70": born_after_for_under(first_of_month(day), 70),
        "to70": born_after_for_under(next_month, 70),
        "from75": born_after_for_under(next_month - timedelta(days=1), 75),
        "to75": born_after_for_under(month_end(next_month), 75),
        "lead_until": day + timedelta(days=settings.renewal_lead_days),
        "elderly_born_by": born_after_for_under(first_of_month(day), 70),
        "threshold": REMUNERATION_THRESHOLD,
    }


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
    parser.add_argument(
        "--template",
        help="copy this already seeded database (seed_demo at --date) instead of seeding",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/nightly.py needs PostgreSQL: set DATABASE_URL")
    with admin_connection(base) as conn:
        conn.execute("DROP DATABASE IF EXISTS insurer_bench")
        template = f" TEMPLATE {args.template}" if args.template else ""
        conn.execute(f"CREATE DATABASE insurer_bench{template}")
    os.environ["DATABASE_URL"] = bench_database_url(base)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    os.environ.pop("CELERY_BROKER_URL", None)
    if os.environ.get("DJANGO_DEBUG", "0") in ("", "0"):  # production settings: real keys
        from cryptography.fernet import Fernet

        os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        os.environ.setdefault("MY_NUMBER_KEYS", Fernet.generate_key().decode())
        os.environ.setdefault("MY_NUMBER_HASH_KEY", secrets.token_urlsafe(48))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from insurer.selectors import insurer_settings_get
    from insurer.services import nightly_run
    from members.demo import seed_demo
    from members.models import Flag, Member

    day = date.fromisoformat(args.date)
    try:
        call_command("migrate", verbosity=0)
        if not args.template:
            started = time.perf_counter()
            seed_demo(members=args.members, today=day, with_my_numbers=False)
            print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        members = Member.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        settings = insurer_settings_get()

        def night(on: date, *, force: bool = False) -> tuple[float, dict]:
            started = time.perf_counter()
            run = nightly_run(run_date=on, trigger="bench", force=force)
            seconds = time.perf_counter() - started
            assert run.status in ("succeeded", "rerun"), run.error
            return seconds, run.counts

        def floor(on: date) -> tuple[float, set]:
            """Median of 3 runs of the hand-written statement, and its rows."""
            timings, rows = [], []
            params = floor_params(on, settings)
            for _ in range(3):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")  # as the job runs
                    cursor.execute("SET LOCAL work_mem = '64MB'")
                    started = time.perf_counter()
                    cursor.execute(FLOOR_SQL, params)
                    rows = cursor.fetchall()
                    timings.append(time.perf_counter() - started)
            return statistics.median(timings), set(rows)

        def agrees(rows: set) -> bool:
            flags = set(
                Flag.objects.filter(closed_on__isnull=True).values_list(
                    "member_id", "kind", "reason"
                )
            )
            if flags != rows:
                print(
                    f"job only: {sorted(flags - rows)[:5]}  floor only: {sorted(rows - flags)[:5]}"
                )
            return flags == rows

        first_seconds, first_counts = night(day)
        rerun_seconds, _ = night(day, force=True)
        floor_seconds, rows = floor(day)
        print(f"first run steps: {first_counts['seconds']}")
        print(
            f"first run opened {sum(first_counts['opened'].values()):,} flags; "
            f"floor rows {len(rows):,}; job and floor agree: {agrees(rows)}",
            flush=True,
        )
        if not agrees(rows):
            sys.exit("the job and the floor disagree")

        # The renewal wave: everyone certified on D, their certificates ending together;
        # the night inside the renewal lead time, with a month of changes.
        until = date(day.year + 1, day.month, day.day) - timedelta(days=1)
        wave_day = until - timedelta(days=settings.renewal_lead_days // 2)
        with connection.cursor() as cursor:
            cursor.execute(CERTIFICATES_SQL, {"d": day, "until": until})
            certificates = cursor.rowcount
            for sql in CHANGES_SQL:
                cursor.execute(sql)
            cursor.execute("VACUUM ANALYZE")
        wave_seconds, wave_counts = night(wave_day)
        wave_rerun_seconds, _ = night(wave_day, force=True)
        wave_floor_seconds, wave_rows = floor(wave_day)
        print(
            f"wave night ({wave_day}, {certificates:,} certificates) steps: {wave_counts['seconds']}"
        )
        print(f"wave night opened: {wave_counts['opened']}")
        print(f"wave floor rows {len(wave_rows):,}; job and floor agree: {agrees(wave_rows)}")
        if not agrees(wave_rows):
            sys.exit("the job and the floor disagree on the wave night")
        print(
            f"nightly members={members} seconds={first_seconds:.2f} "
            f"floor_seconds={floor_seconds:.3f} ratio={first_seconds / floor_seconds:.2f} "
            f"rerun_seconds={rerun_seconds:.2f} rerun_ratio={rerun_seconds / floor_seconds:.2f} "
            f"wave_seconds={wave_seconds:.2f} wave_floor_seconds={wave_floor_seconds:.3f} "
            f"wave_ratio={wave_seconds / wave_floor_seconds:.2f} "
            f"wave_rerun_ratio={wave_rerun_seconds / wave_floor_seconds:.2f}"
        )
    finally:
        connection.close()
        if not args.keep:
            with admin_connection(base) as conn:
                conn.execute("DROP DATABASE IF EXISTS insurer_bench")


if __name__ == "__main__":
    main()
