"""The certificate flags of the worklist (domain.md §7, §9): renewal_due, reissue_needed,
return_requested, as (member id, kind, '') rows for members/flags.flags_recompute.

SQL narrows each to the certificates that could qualify (expiring within the lead time,
in effect with a printed difference or a cost share, or unexpired held by someone without
the right to one); the rules then decide each of those few. No loop runs over the register.
"""

from datetime import date, timedelta

from django.db.models import Exists, F, OuterRef, Q

from members.models import Member
from members.rules import born_after_for_under, first_of_month, is_active
from members.selectors import member_facts, member_insured_of, members_active_on

from .models import Certificate
from .rules import is_reissue_needed, is_renewal_due
from .selectors import (
    care_needs_approved,
    member_need_reason,
    printed_data_now,
    printed_data_of_certificate,
)

PRINTED_MEMBER_FIELDS = {
    "family_name": "member__family_name",
    "given_name": "member__given_name",
    "family_name_kana": "member__family_name_kana",
    "given_name_kana": "member__given_name_kana",
    "symbol": "member__office_id",
    "number": "member__number",
    "branch": "member__branch",
    "sex": "member__sex",
    "birth_date": "member__birth_date",
}


def renewal_due_rows(as_of: date, *, lead_days: int) -> list[tuple[int, str, str]]:
    """RN-1."""
    later = Certificate.objects.filter(
        member=OuterRef("member"),
        status__in=Certificate.LIVE,
        valid_from__gt=OuterRef("valid_until"),
    )
    candidates = (
        Certificate.objects.filter(
            status=Certificate.Status.ISSUED,
            valid_until__gte=as_of,
            valid_until__lte=as_of + timedelta(days=lead_days),
        )
        .exclude(Exists(later))
        .select_related("member__myna_status")
    )
    rows = []
    for certificate in candidates:
        member = certificate.member
        insured = member_insured_of(member=member)
        after = certificate.valid_until + timedelta(days=1)
        need = member_need_reason(member, as_of)
        if is_renewal_due(
            valid_until=certificate.valid_until,
            as_of=as_of,
            lead_days=lead_days,
            has_successor=False,
            active_after=is_active(member_facts(member), insured and member_facts(insured), after),
            residence_expires_on=member.residence_expires_on,
            has_need_reason=need is not None,
        ):
            rows.append((member.pk, "renewal_due", ""))
    return rows


def reissue_needed_rows(as_of: date) -> list[tuple[int, str, str]]:
    """RI-1: in effect, and prints something today's data would print differently."""
    differs = Q(copay__isnull=False) | Q(
        member__birth_date__lte=born_after_for_under(first_of_month(as_of), 70)
    )
    for printed, current in PRINTED_MEMBER_FIELDS.items():
        differs |= ~Q(**{printed: F(current)})
    candidates = (
        Certificate.objects.filter(
            status=Certificate.Status.ISSUED, valid_from__lte=as_of, valid_until__gte=as_of
        )
        .filter(differs)
        .select_related("member")
    )
    rows = []
    for certificate in candidates:
        member = certificate.member
        if is_reissue_needed(
            printed=printed_data_of_certificate(certificate),
            current=printed_data_now(member, member_insured_of(member=member), as_of),
        ):
            rows.append((member.pk, "reissue_needed", ""))
    return rows


def return_requested_rows(as_of: date) -> list[tuple[int, str, str]]:
    """RT-1, wholly in SQL: unexpired, unsuperseded, held by someone who lost membership
    or who has a usable マイナ保険証 and no 要配慮者 approval."""
    from members.flags import usable_card_condition

    active = members_active_on(Member.objects.all(), as_of).values("pk")
    usable_without_care = (
        Member.objects.filter(usable_card_condition(as_of))
        .exclude(Exists(care_needs_approved().filter(member=OuterRef("pk"))))
        .values("pk")
    )
    rows = (
        Certificate.objects.filter(status=Certificate.Status.ISSUED, valid_until__gte=as_of)
        .filter(~Q(member__in=active) | Q(member__in=usable_without_care))
        .values_list("member_id", flat=True)
        .distinct()
    )
    return [(member_id, "return_requested", "") for member_id in rows]


def certificate_flag_rows(as_of: date, *, renewal_lead_days: int) -> list[tuple[int, str, str]]:
    return [
        *renewal_due_rows(as_of, lead_days=renewal_lead_days),
        *reissue_needed_rows(as_of),
        *return_requested_rows(as_of),
    ]
