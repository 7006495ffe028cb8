"""The certificate flags of the worklist (domain.md §7, §9): renewal_due, reissue_needed,
return_requested, as (member id, kind, '') rows for members/flags.flags_recompute.

SQL narrows each to the certificates that could qualify (expiring within the lead time,
in effect with a printed difference or a cost share, or unexpired held by someone without
the right to one); the rules then decide each of those few. No loop runs over the register.
"""

from datetime import date, timedelta

from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Concat

from members.models import Member
from members.rules import born_after_for_under, first_of_month, is_active
from members.selectors import (
    member_facts,
    member_insured_of,
    members_active_on,
    printed_name_sql,
)

from .models import Certificate
from .rules import is_reissue_needed, is_renewal_due
from .selectors import (
    care_needs_approved,
    member_need_reason,
    printed_data_now,
    printed_data_of_certificate,
)

PRINTED_MEMBER_FIELDS = {
    "family_name": printed_name_sql("family", "member__"),
    "given_name": printed_name_sql("given", "member__"),
    "family_name_kana": F("member__family_name_kana"),
    "given_name_kana": F("member__given_name_kana"),
    "symbol": F("member__office_id"),
    "number": F("member__number"),
    "branch": F("member__branch"),
    "sex": F("member__sex"),
    "birth_date": F("member__birth_date"),
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
    """RI-1: in effect, held by a member active today, and prints something today's data
    would print differently (the dependant's 被保険者氏名 included)."""
    insured_name = Member.objects.filter(
        office_id=OuterRef("member__office_id"),
        number=OuterRef("member__number"),
        relationship=Member.Relationship.SELF,
    ).values(full=Concat(printed_name_sql("family"), Value(" "), printed_name_sql("given")))[:1]
    differs = (
        Q(copay__isnull=False)
        | Q(member__birth_date__lte=born_after_for_under(first_of_month(as_of), 70))
        | (Q(is_dependent=True) & ~Q(insured_name=Subquery(insured_name)))
    )
    for printed, current in PRINTED_MEMBER_FIELDS.items():
        differs |= ~Q(**{printed: current})
    active = members_active_on(Member.objects.all(), as_of).values("pk")
    candidates = (
        Certificate.objects.filter(
            status=Certificate.Status.ISSUED, valid_from__lte=as_of, valid_until__gte=as_of
        )
        .filter(member__in=active)
        .filter(differs)
        .select_related("member")
    )
    rows = []
    for certificate in candidates:
        member = certificate.member
        if is_reissue_needed(
            printed=printed_data_of_certificate(certificate),
            current=printed_data_now(member, member_insured_of(member=member), as_of),
            is_active=True,  # the read above keeps active members only (MEM-1 in SQL)
        ):
            rows.append((member.pk, "reissue_needed", ""))
    return rows


def return_requested_rows(as_of: date) -> list[tuple[int, str, str]]:
    """RT-1, wholly in SQL: unexpired, unsuperseded, held by someone who lost membership
    or who has a usable マイナ保険証, no 要配慮者 approval and is not awaiting
    registration. One row per member, however many certificates they hold."""
    from members.flags import awaiting_registration_condition, usable_card_condition

    active = members_active_on(Member.objects.all(), as_of).values("pk")
    usable_without_need = (
        Member.objects.filter(usable_card_condition(as_of))
        .exclude(Exists(care_needs_approved().filter(member=OuterRef("pk"))))
        .exclude(awaiting_registration_condition(as_of))
        .values("pk")
    )
    rows = (
        Certificate.objects.filter(status=Certificate.Status.ISSUED, valid_until__gte=as_of)
        .filter(~Q(member__in=active) | Q(member__in=usable_without_need))
        .order_by()
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
