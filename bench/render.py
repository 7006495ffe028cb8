"""Benchmark: a batch of N certificates rendered in parts by 1 and by 2 worker processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/12 DJANGO_DEBUG=1 \\
        .venv/bin/python bench/render.py --certificates 20000

Creates (and afterwards drops, unless --keep) a database `insurer_bench_render` on the
server of DATABASE_URL, migrates it, and writes one scheduled batch of N certificates
(households of one to three people in offices of 8 to 7,000 certificates, so that big
offices are cut into chunks) with its envelopes. Then, for 1 and for 2 worker processes,
it starts a real `celery worker --pool prefork --concurrency W` on a queue of its own,
waits until the worker answers, enqueues `certificates.render_batch` and waits for the
batch to be `rendered`: the seconds are from the enqueue to `rendered` (worker start-up
not counted). Peak RSS is each pool process's VmHWM (the whole process, Django
included), read before the worker is stopped; the largest is printed. CPU seconds are
each pool process's user + system time during the render: on a machine shared with other
work the wall time says little about parallelism, while the largest CPU time per process
is about what the wall time would be on idle cores.

The floor, measured in the same run, is bench/pdf.py's: reportlab drawing N card frames
with one line of text each in the same embedded font, in one process. The last line holds
the figures; `ratio2` = seconds with two workers / floor seconds (on a machine with two
idle cores, two workers can go below 1 only by parallelism).

`render_batch_with_workers(batch_id, workers=2)` is what bench/issuing.py calls to render
the batch it issued (in the database and with the broker of its own environment).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "insurer_bench_render"
DAY = date(2026, 11, 21)
OFFICE_SIZES = (8, 30, 120, 500, 2500, 7000)  # certificates per office, in turn


@dataclass
class RenderRun:
    seconds: float
    peak_rss_mb: list[float]  # per pool process
    cpu_seconds: list[float]  # per pool process: on idle cores the wall time is ≈ their max
    parts: int
    processes: int  # distinct pool processes that rendered a part


def _pool_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(app, node: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited: {process.stdout.read()}")
        if app.control.ping(destination=[node], timeout=1.0):
            return
    raise RuntimeError("the worker did not answer")


def render_with_workers(
    batch_id: int, workers: int = 2, *, env: dict | None = None, timeout: float = 3600
) -> RenderRun:
    """Start a worker with `workers` pool processes (this process's database, broker and
    file store unless `env` says otherwise), render the batch on it, stop it."""
    from certificates.models import IssueBatch
    from certificates.tasks import render_batch
    from insurer.celery import app

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    node = f"{queue}@bench"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "insurer", "worker", "--pool", "prefork"),
            *("--concurrency", str(workers), "--loglevel", "WARNING", "-n", node, "-Q", queue),
            *("--without-gossip", "--without-mingle"),
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_ready(app, node, process)
        before = {pid: _cpu_seconds(pid) for pid in _pool_children(process.pid)}
        started = time.perf_counter()
        render_batch.apply_async(args=[batch_id], queue=queue)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, error = IssueBatch.objects.values_list("status", "error").get(pk=batch_id)
            if status in (IssueBatch.Status.RENDERED, IssueBatch.Status.FAILED):
                break
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited: {process.stdout.read()}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the batch was not rendered within {timeout} s")
        seconds = time.perf_counter() - started
        if status != IssueBatch.Status.RENDERED:
            raise RuntimeError(f"the batch failed: {error}")
        children = _pool_children(process.pid)
        rss = [_peak_rss_mb(pid) for pid in children]
        cpu = [_cpu_seconds(pid) - before.get(pid, 0.0) for pid in children]
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    parts = IssueBatch.objects.get(pk=batch_id).parts
    return RenderRun(
        seconds=seconds,
        peak_rss_mb=rss,
        cpu_seconds=cpu,
        parts=parts.count(),
        processes=len(set(parts.values_list("rendered_by", flat=True))),
    )


def render_batch_with_workers(batch_id: int, workers: int = 2) -> float:
    """Seconds from enqueueing the batch's render to `rendered`, on `workers` processes."""
    return render_with_workers(batch_id, workers).seconds


def reset_render(batch_id: int) -> None:
    """The batch as issuing left it: no parts, no files (the envelopes stay)."""
    from certificates.models import BatchPart, IssueBatch

    BatchPart.objects.filter(batch_id=batch_id).delete()
    IssueBatch.objects.filter(pk=batch_id).update(status="issued", progress=0, error="")


def seed(count: int) -> int:
    """One scheduled batch of `count` certificates, with its envelopes; returns its id."""
    from certificates.models import Certificate, IssueBatch
    from certificates.services import batch_envelopes_build
    from insurer.models import Insurer, Office
    from members.demo import FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES
    from members.models import Member

    insurer = Insurer.objects.create(
        insurer_number="06130090",
        name="ベンチ健康保険組合",
        postal_code="100-0001",
        address="東京都千代田区千代田1-1",
        phone="03-0000-0000",
    )
    batch = IssueBatch.objects.create(kind="scheduled", issued_on=DAY, certificate_count=count)
    made, office_index = 0, 0
    while made < count:
        size = min(OFFICE_SIZES[office_index % len(OFFICE_SIZES)], count - made)
        office = Office.objects.create(
            symbol=str(1001 + office_index), name=f"ベンチ商事 {office_index}号事業所"
        )
        members, certificates, number, index = [], [], 0, 0
        while index < size:
            number += 1
            household = min(1 + number % 3, size - index)
            family, family_kana = FAMILY_NAMES[(made + index) % len(FAMILY_NAMES)]
            for branch in range(household):
                n = made + index
                given, given_kana = (MALE_NAMES if n % 2 else FEMALE_NAMES)[n % 16]
                elderly = n % 7 == 0
                member = Member(
                    office=office,
                    number=str(number),
                    branch=f"{branch:02d}",
                    relationship="self" if branch == 0 else "child",
                    family_name=family,
                    given_name=given,
                    family_name_kana=family_kana,
                    given_name_kana=given_kana,
                    birth_date=(date(1954, 1, 1) if elderly else date(1970, 1, 1))
                    + timedelta(days=n % 15000),
                    sex="1" if n % 2 else "2",
                    acquired_on=date(2010, 4, 1),
                    postal_code="100-0001",
                    address="東京都千代田区1-1",
                )
                members.append(member)
                certificates.append(
                    Certificate(
                        member=member,
                        batch=batch,
                        reason="no_card",
                        issued_on=DAY,
                        valid_from=DAY,
                        valid_until=date(2031, 10, 31),
                        is_dependent=branch > 0,
                        family_name=family,
                        given_name=given,
                        family_name_kana=family_kana,
                        given_name_kana=given_kana,
                        sex=member.sex,
                        birth_date=member.birth_date,
                        acquired_on=member.acquired_on,
                        symbol=office.symbol,
                        number=member.number,
                        branch=member.branch,
                        relationship=member.relationship,
                        insurer_number=insurer.insurer_number,
                        insurer_name=insurer.name,
                        insurer_address=insurer.address,
                        insured_name=f"{family} 太郎" if branch else "",
                        copay=3 if elderly else None,
                        copay_effective_on=DAY if elderly else None,
                        office_name=office.name,
                    )
                )
                index += 1
        Member.objects.bulk_create(members, batch_size=5000)
        for certificate in certificates:
            certificate.member_id = certificate.member.pk
        Certificate.objects.bulk_create(certificates, batch_size=5000)
        made += size
        office_index += 1
    batch_envelopes_build(batch=batch, as_of=DAY)
    return batch.pk


def admin_connection(base: str):
    import psycopg

    parts = urlparse(base)
    return psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres") or not os.environ.get("CELERY_BROKER_URL"):
        sys.exit("DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis) are needed.")
    with admin_connection(base) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{DATABASE}"))
    os.environ["PRIVATE_FILES_ROOT"] = tempfile.mkdtemp(prefix="bench-render-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from bench.pdf import baseline

        started = time.perf_counter()
        batch_id = seed(args.certificates)
        print(f"seeded {args.certificates} certificates in {time.perf_counter() - started:.1f} s")
        floor = baseline(args.certificates)
        runs = {}
        for workers in args.workers:
            reset_render(batch_id)
            run = render_with_workers(batch_id, workers)
            runs[workers] = run
            print(
                f"workers={workers} seconds={run.seconds:.1f} "
                f"certificates_per_second={args.certificates / run.seconds:.0f} "
                f"parts={run.parts} processes_used={run.processes} "
                f"peak_rss_mb={max(run.peak_rss_mb, default=0):.0f} "
                f"(per process: {', '.join(f'{mb:.0f}' for mb in run.peak_rss_mb)}) "
                f"cpu_seconds={'+'.join(f'{s:.1f}' for s in run.cpu_seconds)}"
            )
        figures = " ".join(
            f"workers{w}_seconds={r.seconds:.1f} workers{w}_cps={args.certificates / r.seconds:.0f} "
            f"workers{w}_peak_rss_mb={max(r.peak_rss_mb, default=0):.0f} "
            f"workers{w}_cpu_max={max(r.cpu_seconds, default=0):.1f} "
            f"ratio{w}={r.seconds / floor:.2f}"
            for w, r in runs.items()
        )
        speedup = ""
        if 1 in runs and 2 in runs:
            speedup = f" speedup_2_over_1={runs[1].seconds / runs[2].seconds:.2f}"
        print(
            f"render certificates={args.certificates} {figures} "
            f"baseline_seconds={floor:.2f}{speedup}"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with admin_connection(base) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
