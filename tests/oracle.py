"""What the rulebook says the jobs should do, computed from the pure rule functions alone.

A snapshot reads the register, the statuses, the applications and the certificates with
plain queries (no bulk SQL of the product); the functions below then decide, member by
member, with members/rules.py and certificates/rules.py: the losses the nightly job writes
(AGE-4), the worklist it keeps (§9) and the certificates the issuing job makes (§6, §7).
The jobs' tests compare the product's exports with these.
"""

from dataclasses import dataclass, field
from datetime import date

from certificates.models import Application, Certificate, LostCardCase
from certificates.rules import (
    PrintedData,
    ValidityPolicy,
    certificate_caps,
    certificate_valid_until,
    is_reissue_needed,
    is_renewal_due,
    is_return_requested,
    reissue_valid_until,
    renewal_starts_on,
)
from certificates.selectors import validity_policy
from insurer.selectors import insurer_settings_get
from members.models import Member, MynaStatus
from members.rules import (
    CardStatus,
    Loss,
    certificate_need_reason,
    copay_rate,
    has_usable_card,
    is_active,
    is_awaiting_registration,
    is_elderly,
    is_name_unregistered,
    loss_at_75,
    register_flags,
)
from members.selectors import card_status_facts, member_facts

Key = tuple[str, str, str]  # 記号, 番号, 枝番


@dataclass(frozen=True)
class Expected:
    """A certificate as the export shows it."""

    key: Key
    reason: str
    valid_from: date
    valid_until: date
    copay: int | None
    family_name: str


@dataclass
class Snapshot:
    members: dict[int, Member]
    heads: dict[tuple[str, str], Member]
    statuses: dict[int, CardStatus]
    care: set[int]
    lost_open: set[int]
    lost_accepted: set[int]
    certificates: dict[int, list[Certificate]] = field(default_factory=dict)
    lead_days: int = 60
    deadline_days: int = 5
    policy: ValidityPolicy = field(default_factory=ValidityPolicy)

    def head_of(self, member: Member) -> Member | None:
        return None if member.is_insured else self.heads.get((member.office_id, member.number))

    def key(self, member: Member) -> Key:
        return (member.office_id, member.number, member.branch)

    def need_reason(self, member: Member, as_of: date) -> str | None:
        return certificate_need_reason(
            self.statuses.get(member.pk), as_of, **self.applications(member, as_of)
        )

    def applications(self, member: Member, as_of: date) -> dict[str, bool]:
        return {
            "has_accepted_lost_card_case": member.pk in self.lost_accepted,
            "has_care_needs_approval": member.pk in self.care,
            "is_awaiting_registration": is_awaiting_registration(
                is_certificate_requested=member.is_certificate_requested,
                oqs_registered_on=member.oqs_registered_on,
                as_of=as_of,
            ),
        }


def snapshot() -> Snapshot:
    members = {m.pk: m for m in Member.objects.select_related("office")}
    settings = insurer_settings_get()
    snap = Snapshot(
        members=members,
        heads={(m.office_id, m.number): m for m in members.values() if m.is_insured},
        statuses={s.member_id: card_status_facts(s) for s in MynaStatus.objects.all()},
        care=set(
            Application.objects.filter(kind="care_needs", status="approved").values_list(
                "member_id", flat=True
            )
        ),
        lost_open=set(
            LostCardCase.objects.filter(status="open").values_list("member_id", flat=True)
        ),
        lost_accepted=set(
            LostCardCase.objects.filter(
                status="open", applications__kind="lost_card", applications__status="approved"
            ).values_list("member_id", flat=True)
        ),
        lead_days=settings.renewal_lead_days,
        deadline_days=settings.registration_deadline_days,
        policy=validity_policy(),
    )
    for certificate in Certificate.objects.order_by("valid_from", "pk"):
        snap.certificates.setdefault(certificate.member_id, []).append(certificate)
    return snap


# --- §6 printed data, AGE-3 --------------------------------------------------------------


def copay_printed(member: Member, head: Member | None, on: date) -> int | None:
    """The cost share printed on a certificate valid from `on`: only in elderly status;
    the insured person's 基準収入額 approval covers the household, a dependant's own only
    them (AGE-3)."""
    if not is_elderly(member.birth_date, on):
        return None
    insured = member if member.is_insured else head
    return copay_rate(
        birth_date=member.birth_date,
        is_insured=member.is_insured,
        has_income_reduction=member.has_income_reduction,
        insured_has_income_reduction=bool(insured and insured.has_income_reduction),
        insured_birth_date=insured.birth_date if insured else None,
        insured_remuneration=insured.standard_monthly_remuneration if insured else None,
        as_of=on,
    )


def printed_on_certificate(certificate: Certificate) -> PrintedData:
    """RI-1: what a certificate prints, frozen at issue."""
    return PrintedData(
        certificate.family_name,
        certificate.given_name,
        certificate.family_name_kana,
        certificate.given_name_kana,
        certificate.symbol,
        certificate.number,
        certificate.branch,
        certificate.sex,
        certificate.birth_date,
        certificate.copay,
        certificate.insured_name,
    )


def printed_now(member: Member, head: Member | None, on: date) -> PrintedData:
    """RI-1: what a certificate would print on `on` (被保険者氏名 for a dependant)."""
    return PrintedData(
        member.printed_family_name,
        member.printed_given_name,
        member.family_name_kana,
        member.given_name_kana,
        member.office_id,
        member.number,
        member.branch,
        member.sex,
        member.birth_date,
        copay_printed(member, head, on),
        head.printed_full_name if head and not member.is_insured else "",
    )


# --- AGE-4 ------------------------------------------------------------------------------


def expected_losses(snap: Snapshot, as_of: date) -> dict[Key, tuple[date | None, str]]:
    """(lost_on, loss_reason) of every member after the nightly job of `as_of`."""
    result = {}
    for member in snap.members.values():
        head = snap.head_of(member)
        loss: Loss | None = loss_at_75(
            birth_date=member.birth_date,
            acquired_on=member.acquired_on,
            lost_on=member.lost_on,
            is_insured=member.is_insured,
            insured_birth_date=head.birth_date if head else None,
            insured_lost_on=head.lost_on if head else None,
            as_of=as_of,
        )
        recorded = (member.lost_on, member.loss_reason)
        result[snap.key(member)] = (loss.lost_on, loss.reason) if loss else recorded
    return result


# --- §9 -------------------------------------------------------------------------------


def expected_flags(snap: Snapshot, as_of: date) -> dict[Key, set[tuple[str, str]]]:
    """Every (flag, reason) that holds on `as_of`, per member (members with none left out)."""
    result = {}
    for pk, member in snap.members.items():
        head = snap.head_of(member)
        person, insured = member_facts(member), head and member_facts(head)
        status = snap.statuses.get(pk)
        mine = snap.certificates.get(pk, [])
        issued = [c for c in mine if c.status == "issued"]
        apps = snap.applications(member, as_of)
        flags = register_flags(
            person,
            insured,
            status,
            as_of,
            registration_deadline_days=snap.deadline_days,
            holds_certificate_on=any(c.valid_from <= as_of <= c.valid_until for c in issued),
            has_accepted_lost_card_case=apps["has_accepted_lost_card_case"],
            has_care_needs_approval=apps["has_care_needs_approval"],
            is_name_unregistered=is_name_unregistered(
                family_name=member.family_name,
                given_name=member.given_name,
                registered_family_name=member.registered_family_name,
                registered_given_name=member.registered_given_name,
            ),
        )
        need = snap.need_reason(member, as_of)
        active = is_active(person, insured, as_of)
        usable = has_usable_card(status, as_of, has_open_lost_case=pk in snap.lost_open)
        for c in issued:
            successor = any(
                o.valid_from == renewal_starts_on(c.valid_until)
                for o in mine
                if o.status in Certificate.LIVE
            )
            if is_renewal_due(
                valid_until=c.valid_until,
                as_of=as_of,
                lead_days=snap.lead_days,
                has_successor=successor,
                active_after=is_active(person, insured, renewal_starts_on(c.valid_until)),
                residence_expires_on=member.residence_expires_on,
                has_need_reason=need is not None,
            ):
                flags.add(("renewal_due", ""))
            if c.valid_from <= as_of <= c.valid_until and is_reissue_needed(
                printed=printed_on_certificate(c),
                current=printed_now(member, head, as_of),
                is_active=active,
            ):
                flags.add(("reissue_needed", ""))
            if is_return_requested(
                valid_until=c.valid_until,
                as_of=as_of,
                is_superseded=False,
                is_active=active,
                has_usable_card=usable,
                has_care_needs_approval=apps["has_care_needs_approval"],
                is_awaiting_registration=apps["is_awaiting_registration"],
            ):
                flags.add(("return_requested", ""))
        if flags:
            result[snap.key(member)] = flags
    return result


# --- §6, §7: what the issuing job makes of the open flags --------------------------------


def expected_issue(
    snap: Snapshot, flags: dict[Key, set[tuple[str, str]]], as_of: date
) -> tuple[set[Expected], set[Key], set[tuple[Key, str]]]:
    """The certificates issued on `as_of` for the open flags, the members whose
    certificate in effect is superseded by a reissue, and the flags left open because no
    period can be given (the §6 caps end before the certificate would start)."""
    by_key = {snap.key(m): m for m in snap.members.values()}
    issued, superseded, skipped = set(), set(), set()
    for key, kinds in flags.items():
        member = by_key[key]
        head = snap.head_of(member)
        mine = [c for c in snap.certificates.get(member.pk, []) if c.status == "issued"]
        person = {
            "birth_date": member.birth_date,
            "voluntary_until": member.voluntary_until,
            "residence_expires_on": member.residence_expires_on,
            "insured_birth_date": head.birth_date if head else None,
        }

        def make(kind: str, reason: str, valid_from: date, valid_until: date, member=member):
            key = snap.key(member)
            if valid_until < valid_from:
                skipped.add((key, kind))
                return
            copay = copay_printed(member, snap.head_of(member), valid_from)
            name = member.printed_family_name
            issued.add(Expected(key, reason, valid_from, valid_until, copay, name))

        for kind, reason in sorted(kinds):
            if kind == "certificate_needed":
                until = certificate_valid_until(
                    valid_from=as_of, reason=reason, policy=snap.policy, **person
                )
                make(kind, reason, as_of, until)
            elif kind == "reissue_needed":
                old = next(c for c in mine if c.valid_from <= as_of <= c.valid_until)
                caps = certificate_caps(valid_from=as_of, **person)
                until = reissue_valid_until(
                    old_valid_until=old.valid_until, capped_valid_until=caps
                )
                make(kind, "reissue", as_of, until)
                if until >= as_of:
                    superseded.add(key)
            elif kind == "renewal_due":
                old = max(mine, key=lambda c: c.valid_until)
                start = renewal_starts_on(old.valid_until)
                reason = snap.need_reason(member, as_of)
                until = certificate_valid_until(
                    valid_from=start, reason=reason, policy=snap.policy, **person
                )
                make(kind, reason, start, until)
    return issued, superseded, skipped


def certificate_of_row(row: dict[str, str]) -> Expected:
    """A CertificateResource export row in the shape of `Expected`."""
    return Expected(
        (row["symbol"], row["number"], row["branch"]),
        row["reason"],
        date.fromisoformat(row["valid_from"]),
        date.fromisoformat(row["valid_until"]),
        int(row["copay"]) if row["copay"] else None,
        row["family_name"],
    )
