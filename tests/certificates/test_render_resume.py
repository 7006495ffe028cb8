"""A render killed part-way is resumed, and the batch page says it stalled (issue 9,
item 3). Before: a render killed mid-way stayed at 45% forever, the page refreshing."""

from datetime import date

import pytest
from django.urls import reverse

from certificates.issuing import certificates_issue_run
from certificates.models import IssueBatch
from certificates.rendering import (
    RENDER_LOCK,
    RENDER_RESUMED,
    batch_render,
    batch_render_is_stalled,
)
from certificates.tasks import render_batch
from insurer.services import nightly_run
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory
from tests.locks import held_elsewhere

D = date(2026, 11, 21)


@pytest.fixture(autouse=True)
def parts_render_here():
    """The parts the resumed render hands out run in this process (as with no broker),
    not on a worker this test does not start."""
    from insurer.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def stalled_batch(transactional_db):
    InsurerFactory()
    member = MemberFactory(office=OfficeFactory(symbol="1001"), number="1")
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    nightly_run(run_date=D, trigger="test")
    run = certificates_issue_run(run_date=D, trigger="test")
    IssueBatch.objects.filter(pk=run.counts["batch"]).update(status="rendering", progress=45)
    return IssueBatch.objects.get(pk=run.counts["batch"])


def test_a_render_whose_worker_died_is_shown_stalled_and_resumed(stalled_batch, supervisor_client):
    assert batch_render_is_stalled(stalled_batch)
    page = supervisor_client.get(
        reverse("admin:certificates_issuebatch_change", args=[stalled_batch.pk])
    ).content.decode()
    assert "PDFの作成が 45% で止まっています" in page
    assert 'http-equiv="refresh"' not in page

    render_batch.apply(args=[stalled_batch.pk])  # the next worker, or 「PDFを作り直す」

    stalled_batch.refresh_from_db()
    assert (stalled_batch.status, stalled_batch.progress) == ("rendered", 100)
    assert stalled_batch.pdf.name
    reasons = list(stalled_batch.history.values_list("history_change_reason", flat=True))
    assert RENDER_RESUMED in reasons
    assert not batch_render_is_stalled(stalled_batch)


def test_a_render_still_running_elsewhere_is_neither_stalled_nor_started_twice(
    stalled_batch, supervisor_client
):
    with held_elsewhere(RENDER_LOCK, stalled_batch.pk):
        assert not batch_render_is_stalled(stalled_batch)
        page = supervisor_client.get(
            reverse("admin:certificates_issuebatch_change", args=[stalled_batch.pk])
        ).content.decode()
        assert "PDFを作成中です（45%）" in page
        batch_render(batch_id=stalled_batch.pk)  # a second delivery of the task
    stalled_batch.refresh_from_db()
    assert (stalled_batch.status, stalled_batch.progress) == ("rendering", 45)


def test_a_render_that_keeps_killing_its_worker_is_given_up(stalled_batch):
    from certificates.rendering import RENDER_GIVEN_UP

    for _ in range(3):  # each time, the worker died part-way again
        render_batch.apply(args=[stalled_batch.pk])
        IssueBatch.objects.filter(pk=stalled_batch.pk).update(status="rendering", progress=45)
    render_batch.apply(args=[stalled_batch.pk])
    stalled_batch.refresh_from_db()
    assert (stalled_batch.status, stalled_batch.error) == ("failed", RENDER_GIVEN_UP)
    batch_render(batch_id=stalled_batch.pk)  # 「PDFを作り直す」 starts afresh
    stalled_batch.refresh_from_db()
    assert stalled_batch.status == "rendered"


def test_a_late_copy_of_the_task_leaves_a_released_batch_alone(stalled_batch):
    IssueBatch.objects.filter(pk=stalled_batch.pk).update(status="released", progress=100)
    batch_render(batch_id=stalled_batch.pk)
    stalled_batch.refresh_from_db()
    assert (stalled_batch.status, stalled_batch.progress) == ("released", 100)
