"""The scheduled issuing job: open flags in, one batch of certificates and notices out.

`issue_certificates --date D` and the beat entry `issue_certificates` run
`certificates_issue_run`, under the same job lock and JobRun record as the nightly job.
One batch per date: a second run for D finds nothing left to issue. The certificates are
computed in bulk (certificates/issuance.py, the same code a clerk's single issue calls)
and committed in chunks of members in key order; a run killed part-way is resumed by the
next one (`issue_work`).
"""

import os
import time
from collections import Counter
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from insurer.bulk import bulk_insert_with_history, in_values, instance_maker
from insurer.jobs import job_run, pause_for_tests
from insurer.models import JobRun
from members.flags import usable_card_condition
from members.models import Flag, Member
from members.rules import born_after_for_under, first_of_month
from members.selectors import insured_pk_sql, members_active_on, printed_name_sql

from .issuance import ISSUE, REISSUE, RENEW, IssueRequest, certificates_issue_bulk
from .models import IssueBatch, Notice
from .selectors import printed_copay, require_insurer
from .services import (
    ONE_LIVE_PER_PERIOD,
    _constraint_name,
    _enqueue_render,
    batch_envelopes_build,
)

ISSUING_FLAGS = (Flag.Kind.CERTIFICATE_NEEDED, Flag.Kind.RENEWAL_DUE, Flag.Kind.REISSUE_NEEDED)
# Members who joined before paper cards ended were sent the one-off notice of 2024.
NOTICES_FOR_MEMBERS_FROM = date(2024, 12, 2)
NOTICE_FIELDS = {  # what a notice prints that can change: the member's value of each
    "family_name": printed_name_sql("family"),
    "given_name": printed_name_sql("given"),
    "family_name_kana": F("family_name_kana"),
    "given_name_kana": F("given_name_kana"),
    "number": F("number"),
    "branch": F("branch"),
}


def _with_insured(members: QuerySet[Member]) -> list[Member]:
    """The members, each with `notice_insured` (members.selectors.member_insured_of: None
    for an insured person), read in two queries whatever their number."""
    rows = list(members.annotate(notice_insured_pk=insured_pk_sql()))
    wanted = sorted({m.notice_insured_pk for m in rows if not m.is_insured} - {None})
    insured: dict[int, Member] = {}
    for start in range(0, len(wanted), 10000):
        insured.update(Member.objects.in_bulk(wanted[start : start + 10000]))
    for member in rows:
        member.notice_insured = None if member.is_insured else insured.get(member.notice_insured_pk)
    return rows


def notices_due(as_of: date) -> list[tuple[Member, str]]:
    """資格情報のお知らせ due on `as_of`: active members with a usable マイナ保険証 whose
    data is registered in the online system, who are new (no notice yet), or whose
    identifiers, name or cost share differ from their last notice."""
    latest = Notice.objects.filter(member=OuterRef("pk")).order_by("-issued_on", "-pk")
    base = (
        members_active_on(Member.objects.all(), as_of)
        .filter(usable_card_condition(as_of), oqs_registered_on__lte=as_of)
        .select_related("office")
    )
    new = base.filter(~Exists(latest), acquired_on__gte=NOTICES_FOR_MEMBERS_FROM)
    annotated = base.filter(Exists(latest)).annotate(
        **{
            f"notice_{name}": Subquery(latest.values(name)[:1])
            for name in (*NOTICE_FIELDS, "symbol", "copay")
        },
        **{f"now_{name}": current for name, current in NOTICE_FIELDS.items()},
    )
    differs = ~Q(notice_symbol=F("office_id"))
    for name, current in NOTICE_FIELDS.items():
        differs |= ~Q(**{f"notice_{name}": current})
    elderly = Q(birth_date__lte=born_after_for_under(first_of_month(as_of), 70)) | Q(
        notice_copay__isnull=False
    )
    due = [(member, Notice.Reason.NEW_MEMBER) for member in _with_insured(new)]
    for member in _with_insured(annotated.filter(differs | elderly)):
        insured = member.notice_insured
        same = all(
            getattr(member, f"now_{name}") == getattr(member, f"notice_{name}")
            for name in NOTICE_FIELDS
        )
        same = same and member.office_id == member.notice_symbol
        if not same or printed_copay(member, insured, as_of) != member.notice_copay:
            due.append((member, Notice.Reason.CHANGED))
    return due


_new_notice = instance_maker(Notice)


def notices_issue(*, as_of: date, batch: IssueBatch) -> int:
    insurer = require_insurer()
    notices = []
    for member, reason in notices_due(as_of):
        insured = member.notice_insured
        notices.append(
            _new_notice(  # Notice(**values) without Model.__init__ per notice
                member_id=member.pk,
                batch_id=batch.pk,
                reason=reason,
                issued_on=as_of,
                family_name=member.printed_family_name,
                given_name=member.printed_given_name,
                family_name_kana=member.family_name_kana,
                given_name_kana=member.given_name_kana,
                birth_date=member.birth_date,
                acquired_on=member.acquired_on,
                symbol=member.office_id,
                number=member.number,
                branch=member.branch,
                insurer_number=insurer.insurer_number,
                insurer_name=insurer.name,
                copay=printed_copay(member, insured, as_of),
                office_name=member.office.name,
            )
        )
    bulk_insert_with_history(notices, Notice, reason="資格情報のお知らせを作成")
    return len(notices)


REQUEST_KIND = {
    Flag.Kind.CERTIFICATE_NEEDED: ISSUE,
    Flag.Kind.RENEWAL_DUE: RENEW,
    Flag.Kind.REISSUE_NEEDED: REISSUE,
}
# Members per chunk: each chunk is one short transaction (its certificates, their history,
# the flags it closed), so a clerk waits a moment at most and a killed run loses one chunk.
CHUNK_MEMBERS = 5000
CHUNK_ENV = "INSURER_ISSUING_CHUNK_MEMBERS"  # another size (the kill tests use a small one)
CHUNK_RETRIES = 3  # a chunk refused by ONE-1 (a clerk committed meanwhile) is read again


def _chunk_members() -> int:
    return int(os.environ.get(CHUNK_ENV) or CHUNK_MEMBERS)


def _open_flag_chunks(size: int) -> list[list[tuple[int, int, str, str]]]:
    """The open issuing flags (id, member, kind, reason) in member key order, cut into
    chunks of `size` members (a member's flags stay in one chunk). A member's flags are
    served by kind — certificate_needed, reissue_needed, renewal_due — whatever order the
    nightly opened them in: a reissue first, so that a renewal due the same day follows
    the certificate that will be in effect when it starts (the reissue)."""
    rows = (
        Flag.objects.filter(closed_on__isnull=True, kind__in=ISSUING_FLAGS)
        .order_by(
            "member__office_id", "member__number", "member__branch", "member_id", "kind", "pk"
        )
        .values_list("pk", "member_id", "kind", "reason")
    )
    chunks: list[list[tuple[int, int, str, str]]] = []
    last_member, members = None, size
    for row in rows.iterator(chunk_size=20000):
        if row[1] != last_member:
            if members >= size:
                chunks.append([])
                members = 0
            members += 1
            last_member = row[1]
        chunks[-1].append(row)
    return chunks


def _issue_chunk(
    chunk: list[tuple[int, int, str, str]], *, run: JobRun, batch: IssueBatch
) -> tuple[Counter, list[str]]:
    """One chunk in one transaction: its certificates with their history, and the closing
    of the flags served. A flag refused (no period, overlap…) stays open and is reported."""
    requests = [
        IssueRequest(
            member_id=member_id,
            kind=REQUEST_KIND[kind],
            reason=reason if kind == Flag.Kind.CERTIFICATE_NEEDED else None,
            tag=(pk, kind),
        )
        for pk, member_id, kind, reason in chunk
    ]
    for attempt in range(CHUNK_RETRIES):
        try:
            with transaction.atomic():
                outcomes = certificates_issue_bulk(requests, issued_on=run.run_date, batch=batch)
                served = [o.request.tag[0] for o in outcomes if o.certificate is not None]
                Flag.objects.filter(in_values("pk", served)).update(
                    closed_on=run.run_date, closed_by=run
                )
                pause_for_tests()
        except IntegrityError as error:
            if _constraint_name(error) != ONE_LIVE_PER_PERIOD or attempt == CHUNK_RETRIES - 1:
                raise
            continue
        break
    issued = Counter(o.request.tag[1] for o in outcomes if o.certificate is not None)
    keys = {}
    refused = [o for o in outcomes if o.error]
    if refused:
        ids = {o.request.member_id for o in refused}
        keys = {
            m.pk: m.key
            for m in Member.objects.filter(pk__in=ids).only("office", "number", "branch")
        }
    skipped = [f"{keys.get(o.request.member_id, '?')}: {o.error}" for o in refused]
    return issued, skipped


def issue_work(run: JobRun) -> dict:
    """The batch of `run.run_date`, chunk by chunk, then its notices and envelopes.

    Resumable and idempotent: a chunk commits its certificates together with the closing
    of the flags it served, so a run that died part-way left exactly the flags it had not
    served open, and the next run (which takes over the dead run's JobRun) serves those,
    into the same batch. Notices, counts and envelopes are made in one last transaction,
    once every chunk is in; the render is enqueued when that commits.
    """
    as_of = run.run_date
    batch, _ = IssueBatch.objects.get_or_create(kind=IssueBatch.Kind.SCHEDULED, issued_on=as_of)
    before = batch.certificates.count()
    issued: Counter = Counter()
    skipped: list[str] = []
    started = time.monotonic()
    for chunk in _open_flag_chunks(_chunk_members()):
        chunk_issued, chunk_skipped = _issue_chunk(chunk, run=run, batch=batch)
        issued += chunk_issued
        skipped += chunk_skipped
    seconds = {"certificates": round(time.monotonic() - started, 2)}
    with transaction.atomic():
        started = time.monotonic()
        notices_issue(as_of=as_of, batch=batch)
        batch.certificate_count = batch.certificates.count()
        batch.notice_count = batch.notices.count()
        batch.save(update_fields=["certificate_count", "notice_count"])
        seconds["notices"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        mailing = batch_envelopes_build(batch=batch, as_of=as_of, include_resends=True)  # 13
        seconds["envelopes"] = round(time.monotonic() - started, 2)
        if mailing["envelopes"]:  # the batch is complete: rendered once
            transaction.on_commit(lambda: _enqueue_render(batch.pk))
    return {
        "batch": batch.pk,
        "issued": {str(kind): issued[kind] for kind in ISSUING_FLAGS if issued[kind]},
        "resumed_after": before,  # certificates a run that died had put in the batch
        "notices": batch.notice_count,
        **mailing,
        "skipped": len(skipped),
        "skipped_examples": skipped[:50],
        "seconds": seconds,
    }


def certificates_issue_run(*, run_date: date, trigger: str, force: bool = False) -> JobRun:
    """Issuing for D needs the nightly run of D (the worklist it reads), and holds the
    nightly job's lock too, so the flags cannot change under it."""
    return job_run(
        job=JobRun.Job.ISSUE_CERTIFICATES,
        run_date=run_date,
        trigger=trigger,
        work=issue_work,
        force=force,
        requires=JobRun.Job.NIGHTLY,
        excludes=(JobRun.Job.NIGHTLY,),
        chunked=True,
    )
