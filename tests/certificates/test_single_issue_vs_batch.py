"""A clerk's single issue colliding with the scheduled batch (issue 9, item 5).

Before: the clerk's insert waited behind the batch's uncommitted certificate for the same
person (the exclusion constraint) for as long as the batch ran, then got a 500. Now the
clerk gets the certificate, or a Japanese message within seconds.
"""

import threading
import time
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from certificates.models import Certificate
from certificates.services import BATCH_BUSY, certificate_issue, certificate_issue_for_need
from insurer.jobs import TEST_PAUSE_ENV
from insurer.models import JobRun
from insurer.selectors import insurer_settings_get
from insurer.services import nightly_run
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory
from tests.processes import manage_popen, needs_postgres


@pytest.fixture
def two_members(transactional_db):
    InsurerFactory()
    insurer_settings_get()  # as the migration leaves it (a flush between tests removes it)
    office = OfficeFactory(symbol="1001")
    members = [
        MemberFactory(office=office, number=str(n), birth_date=date(1990, 5, 5)) for n in (1, 2)
    ]
    for member in members:
        MynaStatusFactory(member=member, card="none", registration="unregistered")
    return members


def batch_holding(member, *, commit: threading.Event):
    """A thread in the middle of a batch: it has written `member`'s certificate and not
    committed yet."""
    written = threading.Event()

    def run():
        try:
            with transaction.atomic():
                certificate_issue(member=member, reason="no_card", issued_on=timezone.localdate())
                written.set()
                commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert written.wait(10)
    return thread


@needs_postgres
def test_the_same_person_gets_a_japanese_message_within_seconds(two_members):
    busy, other = two_members
    commit = threading.Event()
    thread = batch_holding(busy, commit=commit)
    try:
        started = time.monotonic()
        with pytest.raises(ValidationError) as refused:
            certificate_issue_for_need(member=busy, issued_on=timezone.localdate(), user=None)
        assert time.monotonic() - started < 8
        assert refused.value.messages == [BATCH_BUSY]
        # someone the batch is not holding is served at once
        assert certificate_issue_for_need(member=other, issued_on=timezone.localdate(), user=None)
    finally:
        commit.set()
        thread.join(10)
    assert Certificate.objects.filter(member=busy).count() == 1  # the batch's


@needs_postgres
def test_when_the_batch_commits_during_the_wait_the_clerk_reads_why(two_members):
    busy, _ = two_members
    commit = threading.Event()
    thread = batch_holding(busy, commit=commit)
    threading.Timer(1.0, commit.set).start()  # the batch commits while the clerk waits
    try:
        with pytest.raises(ValidationError) as refused:
            certificate_issue_for_need(member=busy, issued_on=timezone.localdate(), user=None)
        assert "資格確認書" in refused.value.messages[0]
    finally:
        commit.set()
        thread.join(10)
    assert Certificate.objects.filter(member=busy).count() == 1


@needs_postgres
def test_the_admin_page_answers_in_seconds_while_the_real_batch_runs(two_members, clerk_client):
    busy, _ = two_members
    today = timezone.localdate()
    nightly_run(run_date=today, trigger="test")
    batch = manage_popen("issue_certificates", **{TEST_PAUSE_ENV: "30"})
    try:
        deadline = time.monotonic() + 60
        while not JobRun.objects.filter(job="issue_certificates", status="running").exists():
            assert time.monotonic() < deadline and batch.poll() is None, batch.communicate()
            time.sleep(0.2)
        time.sleep(1)  # the batch has written its certificates and sits before its commit
        started = time.monotonic()
        response = clerk_client.post(
            reverse("admin:certificates_certificate_issue_for_member", args=[busy.pk]),
            follow=True,
        )
        assert time.monotonic() - started < 8
        assert response.status_code == 200
        assert "一括交付（または夜間処理）がこの加入者を処理中" in response.content.decode()
    finally:
        batch.terminate()
        batch.communicate(timeout=30)
