"""Every write for 資格確認書, applications, lost-card cases and notices."""

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from insurer.bulk import bulk_insert_values, bulk_insert_with_history, in_values, instance_maker
from insurer.history import save_with_history
from insurer.models import InsurerSettings
from insurer.selectors import insurer_settings_get
from members.models import Member
from members.selectors import members_active_on
from members.services import myna_status_request_deregistration

from .issuance import (
    NO_NEED as NO_NEED,
)
from .issuance import (
    NO_PERIOD as NO_PERIOD,
)
from .issuance import (
    NOT_ACTIVE as NOT_ACTIVE,
)
from .issuance import (
    NOT_LIVE,
    OVERLAP,
    REISSUE,
    RENEW,
    IssueRequest,
    certificates_issue_bulk,
)
from .models import (
    Application,
    BatchPart,
    Certificate,
    CertificatePrintLog,
    DownloadLog,
    Envelope,
    IssueBatch,
    LostCardCase,
    Notice,
)
from .pdf import (
    render_certificates,
)

# The render entry point issuing calls on commit; batch_render kept importable from here.
from .rendering import _enqueue_render, batch_render  # noqa: F401
from .selectors import (
    current_certificate,
    envelopes_awaiting_resend,
    member_need_reason,
)

NOT_DECIDER = "申請を決裁する権限がありません（管理者の操作です）。"
ALREADY_DECIDED = "この申請は決裁済みです。"


def _issue_one(request: IssueRequest, *, issued_on: date, batch, user) -> Certificate:
    """One request through the bulk computation (certificates/issuance.py): the clerk's
    case is the batch's code called with one row."""
    (outcome,) = certificates_issue_bulk([request], issued_on=issued_on, batch=batch, user=user)
    if outcome.error:
        raise ValidationError(outcome.error)
    return outcome.certificate


@transaction.atomic
def certificate_issue(
    *,
    member: Member,
    reason: str,
    issued_on: date,
    batch: IssueBatch | None = None,
    user: AbstractBaseUser | None = None,
    renews: Certificate | None = None,
    supersedes: Certificate | None = None,
) -> Certificate:
    """Issue one certificate (§6): validity with every cap, printed data frozen.

    A renewal starts the day after `renews` ends; a reissue (reason `reissue`)
    supersedes `supersedes` and keeps its end unless a cap now ends earlier.
    """
    request = IssueRequest(
        member_id=member.pk,
        reason=reason,
        renews_id=renews.pk if renews else None,
        supersedes_id=supersedes.pk if supersedes else None,
    )
    certificate = _issue_one(request, issued_on=issued_on, batch=batch, user=user)
    if supersedes is not None:
        supersedes.status = Certificate.Status.SUPERSEDED
    return certificate


# A clerk's single issue waits at most this long for rows the running batch holds.
SINGLE_ISSUE_LOCK_TIMEOUT = "3s"
ONE_LIVE_PER_PERIOD = "certificate_one_live_per_period"  # PostgreSQL's ONE-1 constraint
BATCH_BUSY = (
    "一括交付（または夜間処理）がこの加入者を処理中のため、今は交付できません。"
    "数分後にもう一度お試しください。"
)


def certificate_issue_for_need(
    *,
    member: Member,
    issued_on: date,
    user: AbstractBaseUser | None,
    batch: IssueBatch | None = None,
) -> Certificate:
    """One certificate now, for the member's current §5 reason (member page, decisions).

    Never waits minutes behind the scheduled batch: on PostgreSQL a lock the batch holds
    (its uncommitted certificate for the same person) is waited for SINGLE_ISSUE_LOCK_TIMEOUT
    at most, then the clerk reads BATCH_BUSY; if the batch got there first, OVERLAP.
    """
    try:
        return _certificate_issue_for_need(
            member=member, issued_on=issued_on, user=user, batch=batch
        )
    except OperationalError as error:
        if _is_lock_timeout(error):
            raise ValidationError(BATCH_BUSY) from None
        raise
    except IntegrityError as error:
        if _constraint_name(error) == ONE_LIVE_PER_PERIOD:
            raise ValidationError(OVERLAP) from None
        raise


def _is_lock_timeout(error: Exception) -> bool:
    if getattr(error.__cause__, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(error)  # SQLite: another process is writing


def _constraint_name(error: Exception) -> str | None:
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


@transaction.atomic
def _certificate_issue_for_need(
    *, member: Member, issued_on: date, user: AbstractBaseUser | None, batch: IssueBatch | None
) -> Certificate:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{SINGLE_ISSUE_LOCK_TIMEOUT}'")
    if batch is None:
        batch = IssueBatch.objects.create(kind=IssueBatch.Kind.SINGLE, issued_on=issued_on)
    request = IssueRequest(member_id=member.pk)  # for the member's §5 reason on the day
    certificate = _issue_one(request, issued_on=issued_on, batch=batch, user=user)
    batch.certificate_count = batch.certificates.count()
    batch.save(update_fields=["certificate_count"])
    transaction.on_commit(lambda: _enqueue_render(batch.pk, interactive=True))
    return certificate


def certificate_renew(
    *, member: Member, issued_on: date, batch: IssueBatch, user=None
) -> Certificate:
    """RN-1: the next certificate, from the day after the current one ends."""
    request = IssueRequest(member_id=member.pk, kind=RENEW)
    return _issue_one(request, issued_on=issued_on, batch=batch, user=user)


def certificate_reissue(
    *, member: Member, issued_on: date, batch: IssueBatch, user=None
) -> Certificate:
    """RI-1: a certificate with today's data replacing the one in effect today (a later,
    already issued renewal is left to be judged on the day it comes into effect). Only
    for a member active today: one who has lost membership is asked to return it."""
    request = IssueRequest(member_id=member.pk, kind=REISSUE)
    return _issue_one(request, issued_on=issued_on, batch=batch, user=user)


@transaction.atomic
def certificate_record_return(
    *, certificate: Certificate, returned_on: date, user: AbstractBaseUser | None
) -> Certificate:
    """The certificate came back (RT-1): it stops being valid from that day."""
    if certificate.status not in Certificate.LIVE:
        raise ValidationError(NOT_LIVE)
    certificate.status = Certificate.Status.RETURNED
    certificate.returned_on = returned_on
    save_with_history(certificate, reason="返納を受付", user=user)
    return certificate


@transaction.atomic
def certificate_void(
    *, certificate: Certificate, voided_on: date, user: AbstractBaseUser | None
) -> Certificate:
    """A certificate that will not come back is made invalid (RT-1)."""
    if certificate.status not in Certificate.LIVE:
        raise ValidationError(NOT_LIVE)
    certificate.status = Certificate.Status.VOIDED
    certificate.voided_on = voided_on
    save_with_history(certificate, reason="未返納のため無効", user=user)
    return certificate


def certificates_expire(*, as_of: date) -> int:
    """EX-1: issued certificates whose valid_until < as_of become `expired` (with history)."""
    due = list(Certificate.objects.filter(status=Certificate.Status.ISSUED, valid_until__lt=as_of))
    for certificate in due:
        certificate.status = Certificate.Status.EXPIRED
    bulk_update_with_history(
        due, Certificate, ["status"], batch_size=1000, default_change_reason="有効期限切れ"
    )
    return len(due)


# --- Applications and lost cards -----------------------------------------------------


@transaction.atomic
def application_receive(*, application: Application, user: AbstractBaseUser | None) -> Application:
    """A clerk enters an application (受付); a supervisor decides it."""
    application.status = Application.Status.RECEIVED
    save_with_history(application, reason="申請を受付", user=user)
    return application


@transaction.atomic
def application_decide(
    *,
    application: Application,
    approve: bool,
    decided_on: date,
    user: AbstractBaseUser,
    note: str = "",
) -> Certificate | None:
    """A supervisor approves or rejects; an approval takes effect at once.

    Deregistration puts the person in `dereg_requested`. Every approval then issues a
    certificate if the person now needs one and holds none covering the day.
    """
    if not user.has_perm("certificates.decide_application"):
        raise PermissionDenied(NOT_DECIDER)
    if application.status != Application.Status.RECEIVED:
        raise ValidationError(ALREADY_DECIDED)
    if approve and application.kind == Application.Kind.CARE_NEEDS and not application.review_on:
        raise ValidationError({"review_on": "要配慮者の承認には見直し日が必要です。"})
    application.status = Application.Status.APPROVED if approve else Application.Status.REJECTED
    application.decided_by, application.decided_on, application.decision_note = (
        user,
        decided_on,
        note,
    )
    save_with_history(application, reason="申請を承認" if approve else "申請を却下", user=user)
    if not approve:
        return None
    member = application.member
    if application.kind == Application.Kind.DEREGISTRATION:
        myna_status_request_deregistration(
            member=member, requested_on=application.received_on, user=user
        )
        member.refresh_from_db()
    if (
        current_certificate(member, decided_on) is not None
        or member_need_reason(member, decided_on) is None
    ):
        return None
    return certificate_issue_for_need(member=member, issued_on=decided_on, user=user)


NOT_CARE_NEEDS_APPROVAL = "承認中の要配慮者の申請だけ、承認を終了できます。"


@transaction.atomic
def care_needs_end(
    *, application: Application, ended_on: date, note: str, user: AbstractBaseUser
) -> Application:
    """A supervisor ends a 要配慮者 approval (after its review): the application leaves
    `approved`, so nothing that looks for approved care_needs applications (the §5
    reason, RN-1 renewals, RT-1) counts it any more. Its certificate stays valid to its
    end and is not renewed for this reason."""
    if not user.has_perm("certificates.decide_application"):
        raise PermissionDenied(NOT_DECIDER)
    if (
        application.kind != Application.Kind.CARE_NEEDS
        or application.status != Application.Status.APPROVED
    ):
        raise ValidationError(NOT_CARE_NEEDS_APPROVAL)
    if not note.strip():
        raise ValidationError({"end_note": "終了の理由を入力してください。"})
    application.status = Application.Status.ENDED
    application.ended_on, application.end_note = ended_on, note.strip()
    save_with_history(application, reason=f"要配慮者の承認を終了（{ended_on}）", user=user)
    return application


@transaction.atomic
def lost_card_case_close(
    *, case: LostCardCase, closed_on: date, user: AbstractBaseUser | None, note: str
) -> LostCardCase:
    """§8: the case ends (usable card again, or a clerk's decision with a note). The
    interim certificate is then flagged return_requested by the nightly job unless another
    reason still applies."""
    if not note.strip():
        raise ValidationError({"close_note": "終了の理由を入力してください。"})
    case.status, case.closed_on, case.close_note = LostCardCase.Status.CLOSED, closed_on, note
    save_with_history(case, reason="紛失の対応を終了", user=user)
    return case


# --- Batches, printing ---------------------------------------------------------------

NOT_RELEASABLE = "PDFを作成済みのバッチだけ印刷を許可できます。"
NOT_RELEASER = "印刷を許可する権限がありません（管理者の操作です）。"
NOT_PRINTER = "資格確認書を個別に印刷する権限がありません。"


@transaction.atomic
def batch_release(*, batch: IssueBatch, user: AbstractBaseUser) -> IssueBatch:
    """A supervisor releases a rendered batch to print."""
    if not user.has_perm("certificates.release_issuebatch"):
        raise PermissionDenied(NOT_RELEASER)
    if batch.status != IssueBatch.Status.RENDERED:
        raise ValidationError(NOT_RELEASABLE)
    batch.status, batch.released_by, batch.released_at = (
        IssueBatch.Status.RELEASED,
        user,
        timezone.now(),
    )
    save_with_history(batch, reason="印刷を許可", user=user)
    return batch


NOT_DOWNLOADER = (
    "このファイルを取得する権限がありません。印刷を許可する前のバッチは管理者だけが、"
    "許可後は資格確認書を印刷できる担当者と管理者が取得できます。"
)
NO_FILE = "このファイルはまだ作成されていません。"


@transaction.atomic
def batch_file_download(
    *,
    batch: IssueBatch,
    kind: str,
    user: AbstractBaseUser,
    ip_address: str | None,
    part: BatchPart | None = None,
) -> str:
    """Check that `user` may take this batch file (or this file of one of its parts), log
    it, and return its storage name.

    Supervisors take any rendered batch (to check it before release); clerks who print
    take released batches only; auditors read the log, not the files.
    """
    may_release = user.has_perm("certificates.release_issuebatch")
    may_print = user.has_perm("certificates.print_certificate")
    if not (may_release or (may_print and batch.status == IssueBatch.Status.RELEASED)):
        raise PermissionDenied(NOT_DOWNLOADER)
    if part is not None and part.batch_id != batch.pk:
        raise ValidationError(NO_FILE)
    owner = batch if part is None else part
    if kind not in DownloadLog.Kind.values or not getattr(owner, kind, None):
        raise ValidationError(NO_FILE)
    name = getattr(owner, kind).name
    DownloadLog.objects.create(
        user=user,
        kind=kind,
        batch=batch,
        part=part,
        file_name=name.rsplit("/", 1)[-1],
        ip_address=ip_address,
    )
    return name


@transaction.atomic
def certificate_print_single(*, certificate: Certificate, user: AbstractBaseUser) -> bytes:
    """One certificate again, as a PDF; every such print is logged."""
    if not user.has_perm("certificates.print_certificate"):
        raise PermissionDenied(NOT_PRINTER)
    CertificatePrintLog.objects.create(certificate=certificate, user=user)
    return render_certificates(
        [certificate],
        layout=insurer_settings_get().certificate_format,
        title=f"資格確認書（個別印刷）{certificate.symbol}-{certificate.number}-{certificate.branch}",
    )


def lost_card_cases_close_when_usable(*, as_of: date) -> int:
    """§8: an open case closes once national data newer than the report shows a usable card."""
    from members.flags import ecert_past_grace_before

    cases = LostCardCase.objects.filter(
        status=LostCardCase.Status.OPEN,
        member__myna_status__card="held",
        member__myna_status__registration="registered",
        member__myna_status__dereg_requested_on__isnull=True,
        member__myna_status__as_of__gt=F("reported_on"),
    ).exclude(member__myna_status__ecert_expires_on__lt=ecert_past_grace_before(as_of))
    closed = 0
    for case in cases:
        case.status, case.closed_on = LostCardCase.Status.CLOSED, as_of
        case.close_note = "国のデータで利用できるマイナ保険証を確認"
        save_with_history(case, reason="国のデータにより紛失の対応を終了", user=None)
        closed += 1
    return closed


# --- Envelopes: household mailing and returns (issue 13) -----------------------------

NOT_MAILED = "印刷を許可する前のバッチの封筒です（まだ発送していません）。"
NOT_RETURNABLE = "送付・再送した封筒だけ、戻ったことを記録できます。"
NOT_UNDELIVERED = "戻った封筒（再送待ち・再送済み）だけ、対応済にできます。"


class _Person(NamedTuple):
    """What an envelope reads of a person: household, branch, name and address (a tuple:
    hundreds of thousands are made per batch)."""

    office_id: str
    number: str
    branch: str
    family_name: str
    given_name: str
    postal_code: str
    address: str

    @property
    def full_name(self) -> str:  # as Member.full_name
        return f"{self.family_name} {self.given_name}"


PERSON_FIELDS = _Person._fields


class _Document(NamedTuple):
    """A certificate or notice going into an envelope: its id and its person."""

    pk: int
    member: "_Person | Member"


def _documents(queryset: QuerySet) -> Iterator[tuple[_Document, int | None]]:
    """The batch's certificates or notices as (document, id of the member's insured
    person): plain rows (350,000 stay light), one index probe per row for the insured
    person (no join whose plan depends on the batch's size)."""
    insured = Member.objects.filter(
        office_id=OuterRef("member__office_id"),
        number=OuterRef("member__number"),
        relationship=Member.Relationship.SELF,
    )
    rows = queryset.annotate(
        insured_pk=Subquery(insured.order_by("pk").values("pk")[:1])
    ).values_list("pk", *(f"member__{name}" for name in PERSON_FIELDS), "insured_pk")
    for pk, *person, insured_pk in rows.iterator(chunk_size=10000):
        yield _Document(pk, _Person(*person)), insured_pk


def _insured_of_households(
    pks: set[int], *, resent_households: set[tuple[str, str]]
) -> dict[tuple[str, str], _Person]:
    """(記号, 番号) -> the insured person, for the batch's households (by id, 10,000 at a
    time) and the few households whose documents are re-sent."""
    found: list[tuple] = []
    ordered = sorted(pks)
    for start in range(0, len(ordered), 10000):
        found += Member.objects.filter(in_values("pk", ordered[start : start + 10000])).values_list(
            *PERSON_FIELDS
        )
    if resent_households:
        keys = Q()
        for symbol, number in resent_households:
            keys |= Q(office_id=symbol, number=number)
        found += Member.objects.filter(keys, relationship=Member.Relationship.SELF).values_list(
            *PERSON_FIELDS
        )
    people = [_Person(*row) for row in found]
    return {(person.office_id, person.number): person for person in people}


@dataclass
class _Household:
    """What one envelope will hold while a batch's envelopes are made."""

    certificates: list = dataclass_field(default_factory=list)
    notices: list = dataclass_field(default_factory=list)
    resent_from: list = dataclass_field(default_factory=list)


def _resendable(envelopes: list[Envelope], as_of: date) -> dict[int, tuple[list, list]]:
    """For each returned envelope, the documents still worth sending again on `as_of`:
    certificates still issued and unexpired of members still active, and notices that
    are still the member's latest. The same certificates, reprinted: ONE-1 is untouched."""
    ids = [envelope.pk for envelope in envelopes]
    active = members_active_on(Member.objects.all(), as_of).values("pk")
    live = Certificate.objects.filter(
        envelopes__in=ids,
        status=Certificate.Status.ISSUED,
        valid_until__gte=as_of,
        member__in=active,
    ).annotate(returned_envelope=F("envelopes__pk"))
    newer = Notice.objects.filter(member=OuterRef("member"), pk__gt=OuterRef("pk"))
    latest = (
        Notice.objects.filter(envelopes__in=ids, member__in=active)
        .filter(~Exists(newer))
        .annotate(returned_envelope=F("envelopes__pk"))
    )
    found: dict[int, tuple[list, list]] = {pk: ([], []) for pk in ids}
    for certificate in live.select_related("member"):
        found[certificate.returned_envelope][0].append(certificate)
    for notice in latest.select_related("member"):
        found[notice.returned_envelope][1].append(notice)
    return found


_new_envelope = instance_maker(Envelope)


def _envelope_order(
    route: str, insured: "_Person | Member | None", symbol: str, number: str, sort: str
):
    household = (symbol.zfill(8), number.zfill(8))
    if sort == InsurerSettings.MailingSort.POSTAL_CODE and route == Envelope.Route.DIRECT:
        return (0, insured.postal_code.replace("-", ""), *household)
    return (1 if sort == InsurerSettings.MailingSort.POSTAL_CODE else 0, "", *household)


@transaction.atomic
def batch_envelopes_build(
    *, batch: IssueBatch, as_of: date, include_resends: bool = False
) -> dict[str, int]:
    """One envelope per household for the batch's documents, addressed to the insured
    person (a dependant's documents too, whatever card the insured person uses), routed
    and numbered in the order of 保険者設定 (by office, or by postal code for direct mail).

    With `include_resends` (the scheduled batch) the documents of envelopes that came back
    from a direct mailing go out again, through the employer, in the household's envelope
    of this batch; the returned envelope records which envelope re-sent them.

    Also freezes the certificate format and the reissue fee on the batch. Does nothing for
    a batch that has its envelopes already (a re-run, a render again).
    """
    if batch.envelopes.exists():
        return {"envelopes": 0, "resent": 0}
    settings = insurer_settings_get()
    households: dict[tuple[str, str], _Household] = {}

    def household_of(member: "_Person | Member") -> _Household:
        key = (member.office_id, member.number)
        household = households.get(key)
        if household is None:  # (not setdefault: no _Household made for each document)
            household = households[key] = _Household()
        return household

    insured_pks = set()
    for document, insured_pk in _documents(batch.certificates.all()):
        household_of(document.member).certificates.append(document)
        insured_pks.add(insured_pk)
    for document, insured_pk in _documents(batch.notices.all()):
        household_of(document.member).notices.append(document)
        insured_pks.add(insured_pk)
    # Locked: a clerk settling one of them meanwhile waits, then finds it re-sent.
    returned = list(envelopes_awaiting_resend().select_for_update()) if include_resends else []
    resendable = _resendable(returned, as_of) if returned else {}
    resent_households: set[tuple[str, str]] = set()
    for envelope in returned:
        certificates, notices = resendable[envelope.pk]
        if not (certificates or notices):
            continue  # nothing left to send (expired, replaced, lost membership): stays listed
        for item in (*certificates, *notices):
            resent_households.add((item.member.office_id, item.member.number))
            target = household_of(item.member)
            documents = target.certificates if isinstance(item, Certificate) else target.notices
            documents.append(_Document(item.pk, item.member))
        household_of((certificates or notices)[0].member).resent_from.append(envelope)
    if not households:
        return {"envelopes": 0, "resent": 0}

    insured_of = _insured_of_households(
        {insured_pk for insured_pk in insured_pks if insured_pk is not None},
        resent_households=resent_households,
    )
    planned = []
    for (symbol, number), contents in households.items():
        insured = insured_of.get((symbol, number))
        has_address = insured is not None and insured.address and insured.postal_code
        direct = settings.mailing_sort == InsurerSettings.MailingSort.POSTAL_CODE
        route = (
            Envelope.Route.DIRECT
            if direct and has_address and not contents.resent_from
            else Envelope.Route.OFFICE
        )
        people = [item.member for item in (*contents.certificates, *contents.notices)]
        addressee = insured or min(people, key=lambda member: member.branch)
        envelope = _new_envelope(  # Envelope(**values) without Model.__init__ per envelope
            batch_id=batch.pk,
            sequence=0,
            route=route,
            office_id=symbol,
            number=number,
            addressee=addressee.full_name,
            postal_code=addressee.postal_code,
            address=addressee.address,
        )
        order = _envelope_order(route, addressee, symbol, number, settings.mailing_sort)
        planned.append((order, envelope, contents))
    planned.sort(key=lambda plan: plan[0])
    for sequence, (_, envelope, _) in enumerate(planned, start=1):
        envelope.sequence = sequence
    envelopes = bulk_insert_with_history(
        [envelope for _, envelope, _ in planned], Envelope, reason=f"封筒を作成（バッチ{batch.pk}）"
    )
    by_sequence = {envelope.sequence: envelope for envelope in envelopes}
    if any(envelope.pk is None for envelope in envelopes):  # a database without RETURNING
        by_sequence = {e.sequence: e for e in batch.envelopes.all()}
    certificate_links, notice_links, resent = [], [], []
    for _, planned_envelope, contents in planned:
        envelope = by_sequence[planned_envelope.sequence]
        certificate_links += [(envelope.pk, item.pk) for item in contents.certificates]
        notice_links += [(envelope.pk, item.pk) for item in contents.notices]
        for old in contents.resent_from:
            old.status, old.resent_in = Envelope.Status.RESENT, envelope
            resent.append(old)
    through = Envelope.certificates.through, Envelope.notices.through
    bulk_insert_values(through[0], ("envelope_id", "certificate_id"), certificate_links)
    bulk_insert_values(through[1], ("envelope_id", "notice_id"), notice_links)
    if resent:
        bulk_update_with_history(
            resent,
            Envelope,
            ["status", "resent_in"],
            default_change_reason=f"事業所経由で再送（バッチ{batch.pk}）",
        )
    batch.certificate_format, batch.reissue_fee = settings.certificate_format, settings.reissue_fee
    batch.save(update_fields=["certificate_format", "reissue_fee"])
    return {"envelopes": len(envelopes), "resent": len(resent)}


@transaction.atomic
def envelope_record_return(
    *, envelope: Envelope, returned_on: date, note: str, user: AbstractBaseUser | None
) -> Envelope:
    """A clerk records an envelope that came back undeliverable (宛先不明). A directly
    mailed one goes out again through the employer in the next scheduled batch."""
    envelope = (
        Envelope.objects.select_for_update(of=("self",)).select_related("batch").get(pk=envelope.pk)
    )
    if envelope.batch.status != IssueBatch.Status.RELEASED:
        raise ValidationError(NOT_MAILED)
    if envelope.status != Envelope.Status.SENT:
        raise ValidationError(NOT_RETURNABLE)
    if returned_on < envelope.batch.issued_on:
        raise ValidationError({"returned_on": "戻った日は交付日より前にできません。"})
    envelope.status = Envelope.Status.RETURNED
    envelope.returned_on, envelope.return_note = returned_on, note.strip()
    save_with_history(envelope, reason=f"宛先不明で戻った（{returned_on}）", user=user)
    return envelope


@transaction.atomic
def envelope_resolve(
    *, envelope: Envelope, resolved_on: date, note: str, user: AbstractBaseUser | None
) -> Envelope:
    """A clerk confirms that the documents of a returned envelope reached the member (the
    employer handed them over, the member came to the counter…); the envelopes it re-sent
    are settled with it."""
    envelope = Envelope.objects.select_for_update().get(pk=envelope.pk)  # as it is now
    if (
        envelope.status not in Envelope.UNDELIVERED
        and not envelope.resent_from.filter(status__in=Envelope.UNDELIVERED).exists()
    ):
        raise ValidationError(NOT_UNDELIVERED)
    settled = [
        envelope,
        *envelope.resent_from.filter(status__in=Envelope.UNDELIVERED).select_for_update(),
    ]
    for item in settled:
        if item.status == Envelope.Status.SENT:  # the re-send itself, never returned
            continue
        item.status = Envelope.Status.RESOLVED
        item.resolved_on, item.resolve_note = resolved_on, note.strip()
        save_with_history(item, reason=f"受け取りを確認（{resolved_on}）", user=user)
    return envelope
