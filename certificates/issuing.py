"""The scheduled issuing job: open flags in, one batch of certificates and notices out.

`issue_certificates --date D` and the beat entry `issue_certificates` run
`certificates_issue_run`, under the same job lock and JobRun record as the nightly job.
One batch per date: a second run for D finds nothing left to issue.
"""

from collections import Counter
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from simple_history.utils import bulk_create_with_history

from insurer.jobs import job_run
from insurer.models import JobRun
from members.flags import usable_card_condition
from members.models import Flag, Member
from members.rules import born_after_for_under, first_of_month
from members.selectors import member_insured_of, members_active_on, printed_name_sql

from .models import IssueBatch, Notice
from .selectors import printed_copay, require_insurer
from .services import (
    _enqueue_render,
    batch_envelopes_build,
    certificate_issue,
    certificate_reissue,
    certificate_renew,
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


def _issue_for_flag(flag: Flag, *, as_of: date, batch: IssueBatch) -> None:
    member = flag.member
    if flag.kind == Flag.Kind.CERTIFICATE_NEEDED:
        certificate_issue(member=member, reason=flag.reason, issued_on=as_of, batch=batch)
    elif flag.kind == Flag.Kind.RENEWAL_DUE:
        certificate_renew(member=member, issued_on=as_of, batch=batch)
    else:
        certificate_reissue(member=member, issued_on=as_of, batch=batch)


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
    due = [(member, Notice.Reason.NEW_MEMBER) for member in new]
    for member in annotated.filter(differs | elderly):
        insured = member_insured_of(member=member)
        same = all(
            getattr(member, f"now_{name}") == getattr(member, f"notice_{name}")
            for name in NOTICE_FIELDS
        )
        same = same and member.office_id == member.notice_symbol
        if not same or printed_copay(member, insured, as_of) != member.notice_copay:
            due.append((member, Notice.Reason.CHANGED))
    return due


def notices_issue(*, as_of: date, batch: IssueBatch) -> int:
    insurer = require_insurer()
    notices = []
    for member, reason in notices_due(as_of):
        insured = member_insured_of(member=member)
        notices.append(
            Notice(
                member=member,
                batch=batch,
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
    bulk_create_with_history(
        notices, Notice, batch_size=1000, default_change_reason="資格情報のお知らせを作成"
    )
    return len(notices)


def issue_work(run: JobRun) -> dict:
    as_of = run.run_date
    batch, _ = IssueBatch.objects.get_or_create(kind=IssueBatch.Kind.SCHEDULED, issued_on=as_of)
    flags = (
        Flag.objects.filter(closed_on__isnull=True, kind__in=ISSUING_FLAGS)
        .select_related("member__office", "member__myna_status")
        .order_by("member__office_id", "member__number", "member__branch")
    )
    issued: Counter = Counter()
    served, skipped = [], []
    for flag in flags:
        try:
            with transaction.atomic():
                _issue_for_flag(flag, as_of=as_of, batch=batch)
        except ValidationError as error:
            skipped.append(f"{flag.member.key}: {' '.join(error.messages)}")
            continue
        issued[flag.kind] += 1
        served.append(flag.pk)
    Flag.objects.filter(pk__in=served).update(closed_on=as_of, closed_by=run)
    notices = notices_issue(as_of=as_of, batch=batch)
    batch.certificate_count = batch.certificates.count()
    batch.notice_count = batch.notices.count()
    batch.save(update_fields=["certificate_count", "notice_count"])
    mailing = batch_envelopes_build(batch=batch, as_of=as_of, include_resends=True)  # issue 13
    if issued or notices or mailing["resent"]:
        transaction.on_commit(lambda: _enqueue_render(batch.pk))
    return {
        "batch": batch.pk,
        "issued": dict(issued),
        "notices": notices,
        **mailing,
        "skipped": len(skipped),
        "skipped_examples": skipped[:50],
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
    )
