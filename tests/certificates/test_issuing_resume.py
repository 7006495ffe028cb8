"""The issuing run commits in chunks and a killed run is resumed (issue 11, item 1).

A real `manage.py issue_certificates` is killed with SIGKILL between its chunks; the next
run serves what is left, into the same batch. The end state equals a run that was never
interrupted, certificate for certificate (computed first, in the same test, inside a
transaction that is rolled back), and the render is started once.
"""

import signal
import time
from datetime import date

import pytest
from django.db import transaction

from certificates.issuing import CHUNK_ENV, certificates_issue_run
from certificates.models import Certificate, Envelope, IssueBatch, Notice
from certificates.rendering import RENDER_STARTED
from certificates.services import NO_PERIOD, certificate_issue
from insurer.jobs import ABANDONED_RESUMABLE, TEST_PAUSE_ENV
from insurer.models import JobRun
from insurer.selectors import insurer_settings_get
from insurer.services import nightly_run
from members.models import Flag, Member
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory
from tests.processes import manage, manage_popen, needs_postgres

EARLIER = date(2025, 12, 15)  # the first certificates: valid to 2026-11-30 (one year)
D = date(2026, 11, 21)  # renewal due for those, reissue for the renamed ones
HOUSEHOLDS = 18


def register() -> None:
    """Households of an insured person and a spouse, in three offices: new certificates
    (no card), renewals, reissues of renewed ones (a member with two flags), a renamed
    holder who lost membership (no flag: RT-1, not RI-1), and one flag refused for want of a
    period (VAL-d), which stays open and is reported."""
    InsurerFactory()
    settings = insurer_settings_get()
    settings.certificate_validity_years = 1
    settings.save()
    offices = [OfficeFactory(symbol=s) for s in ("1001", "1002", "2001")]
    people = []
    for n in range(HOUSEHOLDS):
        insured = MemberFactory(
            office=offices[n % 3], number=str(100 + n), birth_date=date(1960 + n, 1 + n % 12, 3)
        )
        spouse = MemberFactory.dependent_of(insured, birth_date=date(1962 + n, 2, 28))
        for member in (insured, spouse):
            MynaStatusFactory(member=member, card="none", registration="unregistered")
        people.append((insured, spouse))
    for insured, spouse in people[: HOUSEHOLDS // 2]:  # renewals (and reissues below)
        for member in (insured, spouse):
            certificate_issue(member=member, reason="no_card", issued_on=EARLIER)
    for insured, _ in people[: HOUSEHOLDS // 4]:  # renamed: the spouse's 被保険者氏名 too
        insured.family_name = "佐藤"
        insured.save()
    lost, _ = people[HOUSEHOLDS // 4]  # left, and renamed: neither reissued nor renewed
    lost.lost_on, lost.family_name = date(2026, 11, 1), "鈴木"
    lost.save()
    short = people[-1][0]  # voluntary continuation ended yesterday: no period (VAL-d)
    short.voluntary_until = date(2026, 11, 20)
    short.save()


def snapshot() -> dict:
    def key(certificate: Certificate | None):
        if certificate is None:
            return None
        return (certificate.symbol, certificate.number, certificate.branch, certificate.valid_from)

    certificates = sorted(
        (
            *key(c),
            c.reason,
            c.status,
            c.issued_on,
            c.valid_until,
            key(c.renews),
            key(c.supersedes),
            c.family_name,
            c.insured_name,
            c.copay,
            c.batch.kind if c.batch else None,
        )
        for c in Certificate.objects.select_related("renews", "supersedes", "batch")
    )
    history = sorted(
        (h.symbol, h.number, h.branch, h.valid_from, h.history_type, h.history_change_reason)
        for h in Certificate.history.all()
    )
    flags = sorted(
        (f.member.key, f.kind, f.reason, f.closed_on)
        for f in Flag.objects.select_related("member").filter(
            kind__in=("certificate_needed", "renewal_due", "reissue_needed")
        )
    )
    batch = IssueBatch.objects.get(kind="scheduled", issued_on=D)
    envelopes = sorted(
        (e.sequence, e.office_id, e.number, e.route, e.addressee, e.certificates.count())
        for e in Envelope.objects.filter(batch=batch)
    )
    return {
        "certificates": certificates,
        "history": history,
        "flags": flags,
        "envelopes": envelopes,
        "notices": Notice.objects.count(),
        "counts": (batch.certificate_count, batch.notice_count),
    }


class RolledBack(Exception):
    pass


def uninterrupted() -> tuple[dict, JobRun]:
    """The run as if nothing happened, in a transaction that is then rolled back."""
    try:
        with transaction.atomic():
            run = certificates_issue_run(run_date=D, trigger="test")
            result = snapshot()
            raise RolledBack
    except RolledBack:
        pass
    assert not Certificate.objects.filter(issued_on=D).exists()
    return result, run


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_issuing_run_resumes_without_doubling_or_losing_a_certificate():
    register()
    nightly_run(run_date=D, trigger="test")
    open_flags = Flag.objects.filter(closed_on__isnull=True)
    assert open_flags.filter(kind="renewal_due").exists()
    assert open_flags.filter(kind="reissue_needed").exists()
    expected, whole_run = uninterrupted()
    assert whole_run.counts["skipped"] == 1, whole_run.counts
    assert whole_run.counts["skipped_examples"] == [f"2001-117-00: {NO_PERIOD}"]
    new = [c for c in expected["certificates"] if c[6] == D]  # issued_on
    assert len(new) > 3 * HOUSEHOLDS // 2  # enough for many chunks of 3 members

    child = {CHUNK_ENV: "3", TEST_PAUSE_ENV: "0.7", "CELERY_BROKER_URL": ""}
    process = manage_popen("issue_certificates", "--date", D.isoformat(), **child)
    try:
        deadline = time.monotonic() + 90
        while Certificate.objects.filter(issued_on=D).count() < len(new) // 3:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=20)
    assert process.returncode == -signal.SIGKILL
    committed = Certificate.objects.filter(issued_on=D).count()
    assert 0 < committed < len(new), "killed in the middle of the chunks"
    killed = JobRun.objects.get(job="issue_certificates", status="running")
    batch = IssueBatch.objects.get(kind="scheduled", issued_on=D)
    assert not batch.envelopes.exists()  # the batch is not complete: nothing to render yet

    again = manage("issue_certificates", "--date", D.isoformat(), CELERY_BROKER_URL="")
    assert again.returncode == 0, again.stdout + again.stderr
    killed.refresh_from_db()
    assert (killed.status, killed.error) == ("failed", ABANDONED_RESUMABLE)
    resumed = JobRun.objects.get(job="issue_certificates", status="succeeded")
    assert resumed.counts["resumed_after"] == committed
    assert sum(resumed.counts["issued"].values()) == len(new) - committed
    assert resumed.counts["skipped_examples"] == [f"2001-117-00: {NO_PERIOD}"]  # reported still

    assert snapshot() == expected  # certificate for certificate, history, flags, envelopes
    batch.refresh_from_db()
    assert batch.status == IssueBatch.Status.RENDERED
    started = batch.history.filter(history_change_reason=RENDER_STARTED).count()
    assert started == 1  # the render was started once, for the complete batch
    # a member's two flags were served in one chunk, the reissue first: it replaces the
    # old certificate until its end, and the renewal follows the reissue
    renamed = Member.objects.get(office_id="1001", number="100", branch="00")
    old, reissue, renewal = Certificate.objects.filter(member=renamed).order_by("valid_from", "pk")
    assert (old.status, reissue.status, renewal.status) == ("superseded", "issued", "issued")
    assert reissue.supersedes == old and renewal.renews == reissue
    assert (reissue.valid_until, renewal.valid_from) == (old.valid_until, date(2026, 12, 1))
