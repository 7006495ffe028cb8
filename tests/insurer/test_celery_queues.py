"""What a clerk waits for comes before the batch (settings "Celery: what a clerk waits
for comes first"): a confirmed import and a clerk's PDFs go to the interactive queue, and
a worker reads it before the jobs queue."""

from datetime import date

import pytest
from django.conf import settings

from certificates.services import certificate_issue_for_need
from insurer.celery import app
from insurer.jobs import TEST_PAUSE_ENV
from insurer.models import ImportRun, JobRun
from insurer.tasks import import_file, run_nightly
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory
from tests.importing import MEMBER_HEADER, member_line, recorded_import_run
from tests.insurer.test_celery_redelivery import wait_for
from tests.insurer.test_celery_worker import needs_services
from tests.processes import celery_worker, child_env

D = date(2026, 11, 21)


def test_a_worker_without_q_reads_the_interactive_queue_first():
    names = [queue.name for queue in app.conf.task_queues]
    assert set(names) == {settings.CELERY_INTERACTIVE_QUEUE, app.conf.task_default_queue}
    assert app.conf.broker_transport_options["queue_order_strategy"] == "sorted"
    assert sorted(names)[0] == settings.CELERY_INTERACTIVE_QUEUE
    assert app.amqp.router.route({}, "insurer.import_file")["queue"].name == "interactive"
    assert app.amqp.router.route({}, "insurer.run_nightly")["queue"].name == "jobs"


@pytest.mark.django_db
def test_a_clerks_single_issue_renders_on_the_interactive_queue(
    office, monkeypatch, django_capture_on_commit_callbacks
):
    InsurerFactory()
    member = MemberFactory(office=office)
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    sent = []
    monkeypatch.setattr(
        "certificates.tasks.render_batch.apply_async",
        lambda args, queue: sent.append((args, queue)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        certificate = certificate_issue_for_need(member=member, issued_on=D, user=None)
        assert not sent  # on commit
    assert sent == [([certificate.batch_id], "interactive")]


@needs_services
def test_a_confirmed_import_overtakes_the_queued_batch_work(transactional_db, office):
    """Import A runs (paused inside); then the nightly and import B are queued, in that
    order. The worker takes B next, before the nightly — also right after a task from
    the interactive queue (a round-robin worker would turn to the jobs queue then)."""
    env = child_env(IMPORT_UPLOADS_ROOT=str(settings.IMPORT_UPLOADS_ROOT), **{TEST_PAUSE_ENV: "3"})
    with celery_worker(env=env, queues=("interactive", "jobs")) as (queue, process):
        jobs, interactive = f"{queue}-jobs", f"{queue}-interactive"
        first = recorded_import_run([MEMBER_HEADER, member_line(number="70")])
        import_file.apply_async(args=[first.pk], queue=interactive)
        wait_for(
            lambda: ImportRun.objects.filter(pk=first.pk, status="running").exists(),
            process,
            60,
            "the first import did not start",
        )
        run_nightly.apply_async(args=[D.isoformat()], queue=jobs)
        second = recorded_import_run([MEMBER_HEADER, member_line(number="71")])
        import_file.apply_async(args=[second.pk], queue=interactive)
        nightly = wait_for(
            lambda: JobRun.objects.filter(run_date=D, status="succeeded").first(),
            process,
            60,
            "the nightly did not run",
        )
    second.refresh_from_db()
    assert second.status == "succeeded"
    assert second.finished_at <= nightly.started_at  # the clerk's import went first
