"""The certificate flags of the worklist (domain.md §7, §9): renewal_due, reissue_needed,
return_requested, each a queryset of (member id, kind, '') rows that holds on the date,
for members/flags.flags_recompute to put in its set with the other kinds.

Wholly in SQL — the rules of certificates/rules.py written as conditions (RN-1's "active
on the day after" with the exact AGE-0 anniversary, RI-1's printed data with the cost
share of AGE-1..3); the oracle tests compare them with the rules, member by member.
"""

from datetime import date, timedelta

from django.db.models import (
    Case,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Concat

from members.models import Member
from members.rules import REMUNERATION_THRESHOLD, born_after_for_under, first_of_month
from members.selectors import Anniversary, active_on_condition, printed_name_sql

from .models import Certificate
from .selectors import has_care_needs_sql

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


def _rows(queryset: QuerySet[Certificate], kind: str) -> QuerySet:
    return (
        queryset.annotate(flag_kind=Value(kind), flag_reason=Value(""))
        .values_list("member_id", "flag_kind", "flag_reason")
        .order_by()
    )


def _insured_of_member() -> QuerySet[Member]:
    """The insured person (本人) of the certificate's member's household."""
    return Member.objects.filter(
        office_id=OuterRef("member__office_id"),
        number=OuterRef("member__number"),
        relationship=Member.Relationship.SELF,
    )


def renewal_due_rows(as_of: date, *, lead_days: int) -> QuerySet:
    """RN-1: ending within the lead days, no certificate yet from the next day, the member
    active on that day (MEM-1, the insured person's membership included), 在留期限 (if any)
    after the end, and a §5 reason on `as_of`."""
    from members.flags import certificate_need_reason_sql

    successor = Certificate.objects.filter(
        member=OuterRef("member"),
        status__in=Certificate.LIVE,
        valid_from__gt=OuterRef("valid_until"),
    )
    insured_gone = (
        _insured_of_member()
        .annotate(anniversary_75=Anniversary("birth_date", 75))
        .filter(Q(lost_on__lte=OuterRef("next_day")) | Q(anniversary_75__lte=OuterRef("next_day")))
    )
    due = (
        Certificate.objects.filter(
            status=Certificate.Status.ISSUED,
            valid_until__gte=as_of,
            valid_until__lte=as_of + timedelta(days=lead_days),
        )
        .exclude(Exists(successor))
        .annotate(
            next_day=ExpressionWrapper(F("valid_until") + timedelta(days=1), DateField()),
            member_anniversary_75=Anniversary("member__birth_date", 75),
        )
        .filter(
            member__acquired_on__lte=F("next_day"),
            member_anniversary_75__gt=F("next_day"),
        )
        .filter(Q(member__lost_on__isnull=True) | Q(member__lost_on__gt=F("next_day")))
        .filter(Q(member__relationship=Member.Relationship.SELF) | ~Exists(insured_gone))
        .filter(
            Q(member__residence_expires_on__isnull=True)
            | Q(member__residence_expires_on__gt=F("valid_until"))
        )
        .annotate(need=certificate_need_reason_sql(as_of, "member__"))
        .filter(need__isnull=False)
    )
    return _rows(due, "renewal_due")


def copay_now_sql(as_of: date) -> Case:
    """AGE-1..3 in SQL for a certificate's member on `as_of`: the share printed (elderly
    status only, else NULL). The insured person's 基準収入額 approval covers the household."""
    elderly_born_by = born_after_for_under(first_of_month(as_of), 70)
    insured = _insured_of_member()
    earns = Q(standard_monthly_remuneration__gte=REMUNERATION_THRESHOLD)
    member_earns = Q(member__standard_monthly_remuneration__gte=REMUNERATION_THRESHOLD)
    return Case(
        When(member__birth_date__gt=elderly_born_by, then=Value(None)),
        When(
            Q(member__has_income_reduction=True)
            | Exists(insured.filter(has_income_reduction=True)),
            then=Value(2),
        ),
        When(Q(member__relationship=Member.Relationship.SELF) & member_earns, then=Value(3)),
        When(member__relationship=Member.Relationship.SELF, then=Value(2)),
        When(Exists(insured.filter(earns, birth_date__lte=elderly_born_by)), then=Value(3)),
        default=Value(2),
        output_field=IntegerField(),
    )


def reissue_needed_rows(as_of: date) -> QuerySet:
    """RI-1: in effect, held by a member active today, and printing something today's data
    would print differently — names (registered), kana, identifiers, sex, birth date, the
    cost share, and a dependent's 被保険者氏名."""
    insured_name = _insured_of_member().values(
        full=Concat(printed_name_sql("family"), Value(" "), printed_name_sql("given"))
    )[:1]
    in_effect = (
        Certificate.objects.filter(
            status=Certificate.Status.ISSUED, valid_from__lte=as_of, valid_until__gte=as_of
        )
        .filter(active_on_condition(as_of, "member__"))
        .annotate(copay_now=copay_now_sql(as_of), insured_name_now=Subquery(insured_name))
    )
    differs = (
        Q(copay__isnull=True, copay_now__isnull=False)
        | Q(copay__isnull=False, copay_now__isnull=True)
        | (Q(copay__isnull=False, copay_now__isnull=False) & ~Q(copay=F("copay_now")))
        | (Q(is_dependent=True) & ~Q(insured_name=F("insured_name_now")))
    )
    for printed, current in PRINTED_MEMBER_FIELDS.items():
        differs |= ~Q(**{printed: current})
    return _rows(in_effect.filter(differs), "reissue_needed")


def return_requested_rows(as_of: date) -> QuerySet:
    """RT-1, wholly in SQL: unexpired, unsuperseded, held by someone who lost membership
    or who has a usable マイナ保険証, no 要配慮者 approval and is not awaiting
    registration. One row per member, however many certificates they hold."""
    from members.flags import awaiting_registration_condition, usable_card_condition

    usable_without_need = (
        usable_card_condition(as_of, "member__")
        & ~has_care_needs_sql("member")
        & ~awaiting_registration_condition(as_of, "member__")
    )
    held = Certificate.objects.filter(
        status=Certificate.Status.ISSUED, valid_until__gte=as_of
    ).filter(~active_on_condition(as_of, "member__") | usable_without_need)
    return _rows(held, "return_requested")


def certificate_flag_querysets(as_of: date, *, renewal_lead_days: int) -> list[QuerySet]:
    """(member id, kind, '') rows of every certificate flag that holds on `as_of` (a member
    may appear more than once: the worklist keeps one flag per member and kind)."""
    return [
        renewal_due_rows(as_of, lead_days=renewal_lead_days),
        reissue_needed_rows(as_of),
        return_requested_rows(as_of),
    ]
