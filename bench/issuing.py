"""Benchmark: the scheduled issuing run at N members, first run and renewal wave, against
a hand-written floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/issuing.py --members 100000

Creates (and afterwards drops, unless --keep) a database `insurer_bench_issuing` on the
server of DATABASE_URL and seeds N members with the demo generator — or, with
`--database NAME`, works on an existing seeded database (e.g. a clone of a 1,000,000
register: `createdb -T insurer_1m_template NAME`), which it leaves in place.

1. First run: the nightly jobs for DATE, then the issuing run for DATE (≈35 % of the
   members get a certificate).
2. Renewal wave: the same register on the first day of the month in which most of those
   certificates end (their renewal is then due): the nightly jobs, then the issuing run.
   Five years on, every e-certificate of the seeded register would have expired: the
   members who were using their card on DATE renew its e-certificate as J-LIS asks them to
   (the national data then carries the new expiry, five years on), so the wave is the
   renewals of the first run's certificates plus what changed. `--no-ecert-renewals`
   skips that: then everyone whose e-certificate lapsed needs a new certificate too
   (at 1,000,000 members: 814,550 certificates instead of about 350,000).

Each issuing run is timed (the database part: certificates, history, flags, notices,
envelopes), and its PDFs separately by `render_batch_seconds`. Each is compared with a
floor measured in the same run just before it, on the same data: the certificates the
flags ask for written by hand — one INSERT … SELECT of the certificates (a renewal joined
to the certificate it follows, a reissue after one UPDATE of the one it replaces) and one
INSERT … SELECT of their history rows, rolled back. The floor leaves out what the job does
on top: the §5 reason of a renewal, the caps VAL-c … VAL-f, the printed cost share, ONE-1
in memory, the flag closures, notices and envelopes. The last line holds the figures and
the ratios.
"""

import argparse
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "insurer_bench_issuing"

CERTIFICATE_COLUMNS = (
    "member_id, batch_id, reason, status, issued_on, valid_from, valid_until, supersedes_id,"
    " renews_id, is_dependent, family_name, given_name, family_name_kana, given_name_kana,"
    " sex, birth_date, acquired_on, symbol, number, branch, relationship, insurer_number,"
    " insurer_name, insurer_address, insured_name, copay, copay_effective_on, office_name"
)
# The certificates the open issuing flags ask for, by hand: the period is the policy date
# capped at the day before 75 (VAL-a, VAL-b); printed data from the member row.
FLOOR_CERTIFICATES = f"""
WITH wanted AS (
  SELECT f.member_id, f.kind,
         CASE f.kind WHEN 'certificate_needed' THEN f.reason ELSE
              CASE f.kind WHEN 'reissue_needed' THEN 'reissue' ELSE 'no_card' END END AS reason,
         CASE f.kind WHEN 'renewal_due' THEN old.valid_until + 1 ELSE %(d)s::date END AS valid_from,
         old.id AS old_id, old.valid_until AS old_until
  FROM members_flag f
  LEFT JOIN LATERAL (
      SELECT c.id, c.valid_until FROM certificates_certificate c
      WHERE c.member_id = f.member_id AND c.status IN ('issued', 'superseded')
        AND c.valid_until >= %(d)s AND f.kind <> 'certificate_needed'
        AND (f.kind = 'renewal_due' OR c.valid_from <= %(d)s)
      ORDER BY c.valid_until DESC LIMIT 1) old ON true
  WHERE f.closed_on IS NULL
    AND f.kind IN ('certificate_needed', 'renewal_due', 'reissue_needed')
    AND (f.kind = 'certificate_needed' OR old.id IS NOT NULL)
), made AS (
  SELECT w.*, m.*, LEAST(
      CASE WHEN w.kind = 'reissue_needed' THEN w.old_until
           ELSE (date_trunc('month', w.valid_from + interval '5 years') - interval '1 day')::date
      END,
      (m.birth_date + interval '75 years')::date - 1) AS valid_until,
      w.member_id AS member_pk
  FROM wanted w JOIN members_member m ON m.id = w.member_id
)
INSERT INTO certificates_certificate ({CERTIFICATE_COLUMNS})
SELECT made.member_pk, %(batch)s, made.reason, 'issued', %(d)s, made.valid_from, made.valid_until,
       CASE WHEN made.kind = 'reissue_needed' THEN made.old_id END,
       CASE WHEN made.kind = 'renewal_due' THEN made.old_id END,
       made.relationship <> 'self',
       COALESCE(NULLIF(made.registered_family_name, ''), made.family_name),
       COALESCE(NULLIF(made.registered_given_name, ''), made.given_name),
       made.family_name_kana, made.given_name_kana, made.sex, made.birth_date, made.acquired_on,
       made.symbol, made.number, made.branch, made.relationship,
       i.insurer_number, i.name, i.address,
       COALESCE(COALESCE(NULLIF(h.registered_family_name, ''), h.family_name) || ' '
                || COALESCE(NULLIF(h.registered_given_name, ''), h.given_name), ''),
       NULL, NULL, o.name
FROM made
JOIN insurer_office o ON o.symbol = made.symbol
CROSS JOIN (SELECT * FROM insurer_insurer ORDER BY id LIMIT 1) i
LEFT JOIN members_member h ON made.relationship <> 'self' AND h.symbol = made.symbol
     AND h.number = made.number AND h.relationship = 'self'
WHERE made.valid_until >= made.valid_from
"""
FLOOR_SUPERSEDE = """
UPDATE certificates_certificate c SET status = 'superseded'
FROM members_flag f
WHERE f.closed_on IS NULL AND f.kind = 'reissue_needed' AND c.member_id = f.member_id
  AND c.status = 'issued' AND c.valid_from <= %(d)s AND c.valid_until >= %(d)s
RETURNING c.id
"""
HISTORY_COLUMNS = f"id, {CERTIFICATE_COLUMNS}, returned_on, voided_on"
FLOOR_HISTORY = f"""
INSERT INTO certificates_historicalcertificate
    ({HISTORY_COLUMNS}, history_date, history_change_reason, history_type, history_user_id)
SELECT {HISTORY_COLUMNS}, now(), %(reason)s, %(type)s, NULL
FROM certificates_certificate WHERE {{where}}
"""


def admin_connection(base: str):
    import psycopg

    parts = urlparse(base)
    return psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True)


class RolledBack(Exception):
    pass


def floor_seconds(day: date) -> tuple[float, int]:
    """The hand-written floor on the flags open now: (seconds, certificates), rolled back."""
    from django.db import connection, transaction

    from certificates.models import IssueBatch

    try:
        with transaction.atomic():
            batch = IssueBatch.objects.create(kind="single", issued_on=day)
            params = {"d": day, "batch": batch.pk}
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(FLOOR_SUPERSEDE, params)
                superseded = [row[0] for row in cursor.fetchall()]
                if superseded:
                    cursor.execute(
                        FLOOR_HISTORY.format(where="id = ANY(%(ids)s)"),
                        {"ids": superseded, "reason": "再交付により無効", "type": "~"},
                    )
                cursor.execute(FLOOR_CERTIFICATES, params)
                made = cursor.rowcount
                cursor.execute(
                    FLOOR_HISTORY.format(where="batch_id = %(batch)s"),
                    {**params, "reason": "資格確認書を交付", "type": "+"},
                )
            seconds = time.perf_counter() - started
            raise RolledBack
    except RolledBack:
        pass
    return seconds, made


def render_batch_seconds(batch_id: int, workers: int) -> float:
    """The batch's PDFs and mailing files: rendered in parts by a real Celery worker with
    `workers` pool processes (bench/render.py), from the enqueue to `rendered`; with 0,
    in this process (certificates.rendering.batch_render, one part after another)."""
    if workers:
        from bench.render import render_batch_with_workers

        return render_batch_with_workers(batch_id, workers=workers)
    from certificates.rendering import batch_render

    started = time.perf_counter()
    batch_render(batch_id=batch_id)
    return time.perf_counter() - started


def issuing_round(day: date, label: str, *, render: bool, workers: int) -> dict:
    """The nightly of `day`, the floor on its flags, then the issuing run, timed."""
    from certificates.issuing import certificates_issue_run
    from certificates.models import Certificate
    from insurer.services import nightly_run
    from members.models import Flag

    started = time.perf_counter()
    nightly = nightly_run(run_date=day, trigger="bench")
    assert nightly.status == "succeeded", nightly.error
    nightly_seconds = time.perf_counter() - started
    open_flags = Counter(
        Flag.objects.filter(closed_on__isnull=True).values_list("kind", flat=True).iterator()
    )
    floor, floor_rows = floor_seconds(day)
    started = time.perf_counter()
    run = certificates_issue_run(run_date=day, trigger="bench")
    seconds = time.perf_counter() - started
    assert run.status == "succeeded", run.error
    made = Certificate.objects.filter(batch_id=run.counts["batch"]).count()
    render_seconds = render_batch_seconds(run.counts["batch"], workers) if render else 0.0
    print(
        f"{label} {day}: nightly {nightly_seconds:.1f} s; open flags "
        f"{dict((k, v) for k, v in open_flags.items() if k in ISSUING)}; issued {made:,} "
        f"({run.counts['issued']}), skipped {run.counts['skipped']}, notices "
        f"{run.counts['notices']:,}, envelopes {run.counts['envelopes']:,}; steps "
        f"{run.counts.get('seconds')}; floor wrote {floor_rows:,} certificates",
        flush=True,
    )
    return {
        "certificates": made,
        "seconds": seconds,
        "floor": floor,
        "render": render_seconds,
        "batch": run.counts["batch"],
    }


ISSUING = ("certificate_needed", "renewal_due", "reissue_needed")


def ecert_renewals(first_day: date, wave_day: date) -> int:
    """The members whose e-certificate still worked on `first_day` (MY-1: in force or in
    its grace) and ends before `wave_day` renew it: five more years, as the national data
    would then say."""
    from django.db import connection, transaction

    from members.flags import ecert_past_grace_before

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_mynastatus SET ecert_expires_on = ecert_expires_on"
            " + interval '5 years', as_of = %s"
            " WHERE ecert_expires_on >= %s AND ecert_expires_on < %s",
            [wave_day, ecert_past_grace_before(first_day), wave_day],
        )
        return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--database", help="use this existing seeded database (kept)")
    parser.add_argument("--no-render", action="store_true", help="time the issuing only")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes that render the PDFs (0: in this process)",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15",
        help="the Celery broker the render workers share",
    )
    parser.add_argument("--first-only", action="store_true", help="no renewal wave")
    parser.add_argument(
        "--no-ecert-renewals",
        action="store_true",
        help="the members do not renew their e-certificates before the wave",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("bench/issuing.py needs PostgreSQL: set DATABASE_URL")
    name = args.database or DATABASE
    if not args.database:
        with admin_connection(base) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
            conn.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{name}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    if args.workers and not args.no_render:
        os.environ["CELERY_BROKER_URL"] = args.broker  # the render workers' queue
    else:
        os.environ.pop("CELERY_BROKER_URL", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    import certificates.issuing
    from certificates.models import Certificate
    from members.demo import seed_demo
    from members.models import Member

    # The run would enqueue its render when it commits: the bench renders it itself,
    # timed apart, in render_batch_seconds.
    certificates.issuing._enqueue_render = lambda batch_id: None
    day = date.fromisoformat(args.date)
    render = not args.no_render
    try:
        call_command("migrate", verbosity=0)
        if not args.database:
            started = time.perf_counter()
            seeded = seed_demo(members=args.members, today=day, with_my_numbers=False)
            print(f"seeded {seeded.members:,} members in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        members = Member.objects.count()
        first = issuing_round(day, "first run", render=render, workers=args.workers)

        def figures(label: str, r: dict) -> str:
            return (
                f"{label}_certificates={r['certificates']} {label}_seconds={r['seconds']:.2f} "
                f"{label}_per_second={r['certificates'] / r['seconds']:.0f} "
                f"{label}_floor_seconds={r['floor']:.2f} "
                f"{label}_ratio={r['seconds'] / r['floor']:.2f} "
                f"{label}_render_seconds={r['render']:.1f} "
                f"{label}_total_minutes={(r['seconds'] + r['render']) / 60:.1f}"
            )

        if args.first_only:
            print(f"issuing members={members} {figures('first', first)}")
            return
        ends = Counter(
            Certificate.objects.filter(batch_id=first["batch"])
            .values_list("valid_until", flat=True)
            .iterator()
        )
        wave_end = ends.most_common(1)[0][0]  # most of them end together
        wave_day = wave_end.replace(day=1)
        if not args.no_ecert_renewals:
            renewed = ecert_renewals(day, wave_day)
            print(f"e-certificates renewed before the wave: {renewed:,}", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        wave = issuing_round(wave_day, "renewal wave", render=render, workers=args.workers)

        print(f"issuing members={members} {figures('first', first)} {figures('wave', wave)}")
    finally:
        connection.close()
        if not args.keep and not args.database:
            with admin_connection(base) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")


if __name__ == "__main__":
    main()
