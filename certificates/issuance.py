"""The one computation of 資格確認書 (domain.md §6, RN-1, RI-1, ONE-1), for a set of members.

The scheduled batch calls it with thousands of requests per chunk; a clerk's single issue
(the member page, an application's decision) calls it with one request. Same reads, same
rules, same writes:

- a few large reads: the members with their status, application facts and their insured
  person's id (one query), those insured persons (one query), every live certificate of
  those members (one query), the insurer and its settings (once);
- the pure rules (certificates/rules.py; MEM-1 and §5 from members/rules.py) and
  certificates/selectors.printed_fields,
  applied in memory in request order (a member's second request sees the first's result);
- bulk writes: the superseded certificates ('~' history 再交付により無効) and the new
  certificates with their '+' history (資格確認書を交付（…）/更新/再交付), by COPY on
  PostgreSQL (insurer/bulk.py), by bulk_create elsewhere.

ONE-1 is checked in memory against every live certificate read (so on every database);
on PostgreSQL the exclusion constraint also refuses what a concurrent writer committed
after the read (the caller retries or reports it).
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from insurer.bulk import (
    bulk_insert_with_history,
    bulk_save_with_history,
    in_values,
    instance_maker,
    loaded_instances,
)
from insurer.models import Insurer, Office
from members.models import Member, MynaStatus
from members.rules import (
    CardStatus,
    certificate_need_reason,
    is_active,
    is_awaiting_registration,
)
from members.selectors import insured_pk_sql, member_facts

from .models import Certificate, IssueBatch
from .rules import (
    ValidityPolicy,
    certificate_caps,
    certificate_valid_until,
    reissue_valid_until,
    renewal_starts_on,
)
from .selectors import (
    has_accepted_lost_card_sql,
    has_care_needs_sql,
    printed_fields,
    require_insurer,
    validity_policy,
)

OVERLAP = "この期間に有効な資格確認書がすでにあります（同じ人に重なる期間の確認書は出せません）。"
NO_PERIOD = "資格の終わりが近いため、有効期間を取れません（有効期限が交付日より前になります）。"
NO_NEED = "今日の時点で資格確認書を交付する理由がありません。"
NOT_LIVE = "有効な資格確認書ではないため、この操作はできません。"
NOT_ACTIVE = "資格を喪失しているため再交付できません（返納を依頼してください）。"
NO_MEMBER = "加入者が見つかりません。"
SUPERSEDED_REASON = "再交付により無効"

ISSUE, RENEW, REISSUE = "issue", "renew", "reissue"
REASON_LABELS = {value: str(label) for value, label in Certificate.REASON_CHOICES}
_new_certificate = instance_maker(Certificate)
# The pure rules, remembered for the run: people share birth dates and issue dates.
_valid_until = lru_cache(maxsize=100_000)(certificate_valid_until)
_caps = lru_cache(maxsize=100_000)(certificate_caps)


@dataclass(frozen=True)
class IssueRequest:
    """One certificate wanted for one member.

    ISSUE: for `reason` (a certificate_needed flag's §5 reason), or for the member's own
    §5 reason on the day when `reason` is None (NO_NEED without one); `renews_id` /
    `supersedes_id` name the certificate explicitly (certificate_issue's callers).
    RENEW (RN-1): from the day after the member's current certificate, for today's reason.
    REISSUE (RI-1): replacing the certificate in effect, for a member active today.
    """

    member_id: int
    kind: str = ISSUE
    reason: str | None = None
    renews_id: int | None = None
    supersedes_id: int | None = None
    tag: object = None  # the caller's handle (a flag's id)


@dataclass
class IssueOutcome:
    request: IssueRequest
    certificate: Certificate | None = None
    error: str | None = None  # a Japanese message when no certificate was made


@dataclass
class _Made:
    certificate: Certificate
    renews: Certificate | None
    supersedes: Certificate | None
    history_reason: str
    round: int = 1


@dataclass
class _Register:
    """What the reads found, and the certificates as they stand during the computation."""

    members: dict[int, Member]
    insured: dict[int, Member]
    live: dict[int, list[Certificate]]  # member id -> live certificates (ONE-1 statuses)
    by_pk: dict[int, Certificate]
    insurer: Insurer
    policy: ValidityPolicy
    made: list[_Made] = field(default_factory=list)
    rounds: dict[int, int] = field(default_factory=dict)  # id(new certificate) -> round
    superseded: list[tuple[Certificate, int]] = field(default_factory=list)  # (old, round)


# What issuing never reads of a member (timestamps are slow to load: Python, not C).
MEMBER_UNREAD = ("name_search", "kana_search", "created_at", "updated_at")
MEMBER_ANNOTATIONS = ("issuing_has_lost_card", "issuing_has_care_needs", "issuing_insured_pk")
STATUS_FACTS = (  # the status row's facts, as plain attributes of the member (None: no row)
    ("issuing_status_pk", "pk"),
    ("issuing_card", "card"),
    ("issuing_registration", "registration"),
    ("issuing_ecert_expires_on", "ecert_expires_on"),
    ("issuing_dereg_requested_on", "dereg_requested_on"),
)


def _member_rows(ids: list[int], as_of: date) -> dict[int, Member]:
    """The members with their application facts and insured person's id, then their
    status rows in a second query: by their index, where a join made PostgreSQL read the
    whole status table for every chunk."""
    rows = (
        Member.objects.filter(in_values("pk", ids))
        .order_by()
        .annotate(
            issuing_has_lost_card=has_accepted_lost_card_sql(),
            issuing_has_care_needs=has_care_needs_sql(),
            issuing_insured_pk=insured_pk_sql(),
        )
    )
    rows = loaded_instances(rows, *MEMBER_ANNOTATIONS, defer=MEMBER_UNREAD)
    statuses = {
        member_id: facts
        for member_id, *facts in MynaStatus.objects.filter(in_values("member_id", ids))
        .order_by()
        .values_list("member_id", *(name for _, name in STATUS_FACTS))
    }
    no_status = (None,) * len(STATUS_FACTS)
    symbols = {member.office_id for member in rows}
    offices = {office.symbol: office for office in Office.objects.filter(symbol__in=symbols)}
    members = {}
    for member in rows:
        member.__dict__.update(
            zip(
                (attribute for attribute, _ in STATUS_FACTS),
                statuses.get(member.pk, no_status),
                strict=True,
            )
        )
        member.office = offices[member.office_id]  # printed_fields prints its name
        members[member.pk] = member
    return members


def _read(requests: Sequence[IssueRequest], as_of: date) -> _Register:
    ids = sorted({request.member_id for request in requests})
    members = _member_rows(ids, as_of)
    wanted = {
        member.issuing_insured_pk
        for member in members.values()
        if not member.is_insured and member.issuing_insured_pk is not None
    }
    insured = {pk: members[pk] for pk in wanted if pk in members}
    missing = wanted - set(insured)
    if missing:
        insured.update(
            (m.pk, m)
            for m in loaded_instances(
                Member.objects.filter(in_values("pk", sorted(missing))), defer=MEMBER_UNREAD
            )
        )
    live: dict[int, list[Certificate]] = defaultdict(list)
    by_pk: dict[int, Certificate] = {}
    named = {pk for request in requests for pk in (request.renews_id, request.supersedes_id) if pk}
    certificates = loaded_instances(
        Certificate.objects.filter(
            in_values("member_id", ids), status__in=Certificate.LIVE
        ).order_by("pk")
    )
    if named - {certificate.pk for certificate in certificates}:
        certificates += Certificate.objects.filter(pk__in=named).exclude(
            status__in=Certificate.LIVE
        )
    for certificate in certificates:
        by_pk[certificate.pk] = certificate
        if certificate.status in Certificate.LIVE:
            live[certificate.member_id].append(certificate)
    return _Register(
        members=members,
        insured=insured,
        live=live,
        by_pk=by_pk,
        insurer=require_insurer(),
        policy=validity_policy(),
    )


def _need_reason(member: Member, as_of: date) -> str | None:
    """§5 on `as_of` from the annotated facts (what selectors.member_need_reason reads)."""
    status = None  # card_status_facts: no status data
    if member.issuing_status_pk is not None:
        status = CardStatus(
            card=member.issuing_card,
            registration=member.issuing_registration,
            ecert_expires_on=member.issuing_ecert_expires_on,
            is_dereg_requested=member.issuing_dereg_requested_on is not None,
        )
    return certificate_need_reason(
        status,
        as_of,
        has_accepted_lost_card_case=member.issuing_has_lost_card,
        has_care_needs_approval=member.issuing_has_care_needs,
        is_awaiting_registration=is_awaiting_registration(
            is_certificate_requested=member.is_certificate_requested,
            oqs_registered_on=member.oqs_registered_on,
            as_of=as_of,
        ),
    )


def _issued(certificates: Iterable[Certificate]) -> list[Certificate]:
    return [c for c in certificates if c.status == Certificate.Status.ISSUED]


def _current(certificates: list[Certificate], as_of: date) -> Certificate | None:
    """selectors.current_certificate: the unexpired issued one with the latest end."""
    unexpired = [c for c in _issued(certificates) if c.valid_until >= as_of]
    return max(unexpired, key=lambda c: c.valid_until, default=None)


def _in_effect(certificates: list[Certificate], as_of: date) -> Certificate | None:
    """selectors.certificate_in_effect: the issued one covering `as_of` (newest first)."""
    covering = [c for c in _issued(certificates) if c.valid_from <= as_of <= c.valid_until]
    return max(covering, key=lambda c: (c.issued_on, c.pk or math.inf), default=None)


def _round_of(register: _Register, certificate: Certificate | None) -> int:
    """A certificate made in this call is written in its round; earlier ones are stored."""
    return register.rounds.get(id(certificate), 0) if certificate is not None else 0


def _make(
    register: _Register,
    *,
    member: Member,
    reason: str,
    issued_on: date,
    batch: IssueBatch | None,
    renews: Certificate | None = None,
    supersedes: Certificate | None = None,
) -> Certificate:
    """certificate_issue's computation: validity with every cap, printed data frozen,
    ONE-1 against the live certificates; raises _Refused with the clerk's message."""
    insured = None if member.is_insured else register.insured.get(member.issuing_insured_pk)
    valid_from = renewal_starts_on(renews.valid_until) if renews else issued_on
    person = {
        "valid_from": valid_from,
        "birth_date": member.birth_date,
        "voluntary_until": member.voluntary_until,
        "residence_expires_on": member.residence_expires_on,
        "insured_birth_date": insured.birth_date if insured else None,
    }
    if supersedes is not None:
        valid_until = reissue_valid_until(
            old_valid_until=supersedes.valid_until, capped_valid_until=_caps(**person)
        )
    else:
        valid_until = _valid_until(**person, reason=reason, policy=register.policy)
    if valid_until < valid_from:
        raise _Refused(NO_PERIOD)
    live = register.live[member.pk]
    others = [c for c in live if c is not supersedes]
    if any(c.valid_from <= valid_until and c.valid_until >= valid_from for c in others):
        raise _Refused(OVERLAP)
    round_ = 1 + max(_round_of(register, renews), _round_of(register, supersedes))
    if supersedes is not None:
        supersedes.status = Certificate.Status.SUPERSEDED
        if supersedes in live:
            live.remove(supersedes)
        register.superseded.append((supersedes, round_))
    # No Model.__init__ per certificate (350,000 of them in a first run): the instance
    # Certificate(**values) would be, from the defaults computed once.
    certificate = _new_certificate(
        member_id=member.pk,
        batch_id=batch.pk if batch else None,
        reason=reason,
        issued_on=issued_on,
        valid_from=valid_from,
        valid_until=valid_until,
        **printed_fields(
            member=member, insured=insured, insurer=register.insurer, valid_from=valid_from
        ),
    )
    label = "再交付" if supersedes else "更新" if renews else "交付"
    history_reason = f"資格確認書を{label}（{REASON_LABELS.get(reason, reason)}）"
    live.append(certificate)
    register.rounds[id(certificate)] = round_
    register.made.append(_Made(certificate, renews, supersedes, history_reason, round_))
    return certificate


class _Refused(Exception):
    pass


def _serve(
    register: _Register, request: IssueRequest, *, issued_on: date, batch: IssueBatch | None
) -> Certificate:
    member = register.members.get(request.member_id)
    if member is None:
        raise _Refused(NO_MEMBER)
    live = register.live[member.pk]
    make = {"member": member, "issued_on": issued_on, "batch": batch}
    if request.kind == RENEW:  # certificate_renew
        old = _current(live, issued_on)
        reason = _need_reason(member, issued_on)
        if old is None or reason is None:
            raise _Refused(NO_NEED)
        return _make(register, **make, reason=reason, renews=old)
    if request.kind == REISSUE:  # certificate_reissue
        insured = None if member.is_insured else register.insured.get(member.issuing_insured_pk)
        if not is_active(member_facts(member), insured and member_facts(insured), issued_on):
            raise _Refused(NOT_ACTIVE)
        old = _in_effect(live, issued_on)
        if old is None:
            raise _Refused(NOT_LIVE)
        return _make(register, **make, reason="reissue", supersedes=old)
    reason = request.reason or _need_reason(member, issued_on)
    if reason is None:
        raise _Refused(NO_NEED)
    return _make(
        register,
        **make,
        reason=reason,
        renews=register.by_pk.get(request.renews_id) if request.renews_id else None,
        supersedes=register.by_pk.get(request.supersedes_id) if request.supersedes_id else None,
    )


def _write(register: _Register, user: AbstractBaseUser | None) -> None:
    """Round by round (a renewal of a certificate made in this call comes after it): the
    certificates superseded by the round's reissues, then the round's new certificates,
    grouped by history reason."""
    rounds = sorted({made.round for made in register.made})
    for round_ in rounds:
        old = [c for c, r in register.superseded if r == round_]
        bulk_save_with_history(old, Certificate, reason=SUPERSEDED_REASON, user=user)
        by_reason: dict[str, list[Certificate]] = defaultdict(list)
        for made in register.made:
            if made.round != round_:
                continue
            certificate = made.certificate
            certificate.renews_id = made.renews.pk if made.renews else None
            certificate.supersedes_id = made.supersedes.pk if made.supersedes else None
            by_reason[made.history_reason].append(certificate)
        for reason, certificates in by_reason.items():
            bulk_insert_with_history(certificates, Certificate, reason=reason, user=user)


def certificates_issue_bulk(
    requests: Sequence[IssueRequest],
    *,
    issued_on: date,
    batch: IssueBatch | None,
    user: AbstractBaseUser | None = None,
) -> list[IssueOutcome]:
    """Serve `requests` in order and write what they make; one outcome per request.

    Call inside a transaction: the writes of one call stand or fall together. A refused
    request (NO_PERIOD, OVERLAP, NO_NEED, NOT_ACTIVE, NOT_LIVE) makes nothing and does not
    stop the others.
    """
    if not requests:
        return []
    if connection.vendor == "postgresql":  # compiling these plans costs more than running them
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    register = _read(requests, issued_on)
    outcomes = []
    for request in requests:
        try:
            certificate = _serve(register, request, issued_on=issued_on, batch=batch)
        except _Refused as refused:
            outcomes.append(IssueOutcome(request, error=str(refused)))
        else:
            outcomes.append(IssueOutcome(request, certificate=certificate))
    _write(register, user)
    return outcomes
