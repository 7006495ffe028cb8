"""Named reads for certificates, applications and the rules' view of them."""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, QuerySet

from insurer.models import Insurer
from insurer.selectors import insurer_get, insurer_settings_get
from members.models import Member
from members.rules import (
    certificate_need_reason,
    copay_rate,
    is_awaiting_registration,
    is_elderly,
)
from members.selectors import card_status_facts

from .models import Application, Certificate, Envelope, LostCardCase
from .rules import ValidityPolicy, copay_effective_on


def validity_policy() -> ValidityPolicy:
    settings = insurer_settings_get()
    return ValidityPolicy(
        years=settings.certificate_validity_years,
        lost_card_months=settings.lost_card_validity_months,
        awaiting_registration_months=settings.awaiting_registration_validity_months,
        round_down_to_month_end=settings.round_down_to_month_end,
        push_valid_until=settings.push_certificates_valid_until,
    )


def care_needs_approved() -> QuerySet[Application]:
    """Approved 要配慮者 applications still in force (not ended)."""
    return Application.objects.filter(
        kind=Application.Kind.CARE_NEEDS, status=Application.Status.APPROVED
    )


def accepted_lost_card_cases() -> QuerySet[LostCardCase]:
    """Open lost-card cases with an approved application (§8: reason lost_card)."""
    return LostCardCase.objects.filter(
        status=LostCardCase.Status.OPEN,
        applications__kind=Application.Kind.LOST_CARD,
        applications__status=Application.Status.APPROVED,
    )


# `member` names the member from the rows filtered: "pk" for members, "member" for rows
# that point at one (certificates).


def has_care_needs_sql(member: str = "pk") -> Exists:
    return Exists(care_needs_approved().filter(member=OuterRef(member)))


def has_accepted_lost_card_sql(member: str = "pk") -> Exists:
    return Exists(accepted_lost_card_cases().filter(member=OuterRef(member)))


def has_open_lost_case_sql(member: str = "pk") -> Exists:
    return Exists(
        LostCardCase.objects.filter(member=OuterRef(member), status=LostCardCase.Status.OPEN)
    )


def covering_certificates(as_of: date) -> QuerySet[Certificate]:
    return Certificate.objects.filter(
        status=Certificate.Status.ISSUED, valid_from__lte=as_of, valid_until__gte=as_of
    )


def holds_certificate_sql(as_of: date) -> Exists:
    return Exists(covering_certificates(as_of).filter(member=OuterRef("pk")))


def member_applications_facts(member: Member) -> dict[str, bool]:
    """The application facts §5 reads, for one member."""
    return {
        "has_accepted_lost_card_case": accepted_lost_card_cases().filter(member=member).exists(),
        "has_care_needs_approval": care_needs_approved().filter(member=member).exists(),
    }


def member_need_reason(member: Member, as_of: date) -> str | None:
    status = getattr(member, "myna_status", None)
    return certificate_need_reason(
        card_status_facts(status),
        as_of,
        **member_applications_facts(member),
        is_awaiting_registration=is_awaiting_registration(
            is_certificate_requested=member.is_certificate_requested,
            oqs_registered_on=member.oqs_registered_on,
            as_of=as_of,
        ),
    )


def current_certificate(member: Member, as_of: date) -> Certificate | None:
    """The unexpired issued certificate with the latest end (the one a renewal follows)."""
    return (
        Certificate.objects.filter(
            member=member, status=Certificate.Status.ISSUED, valid_until__gte=as_of
        )
        .order_by("-valid_until")
        .first()
    )


def certificate_in_effect(member: Member, as_of: date) -> Certificate | None:
    """The issued certificate covering `as_of` (the one a reissue replaces, RI-1); ONE-1
    allows at most one."""
    return covering_certificates(as_of).filter(member=member).first()


def printed_copay(member: Member, insured: Member | None, on: date) -> int | None:
    """The cost share a certificate valid from `on` prints: only in elderly status (§6)."""
    if not is_elderly(member.birth_date, on):
        return None
    head = member if member.is_insured else insured
    return copay_rate(
        birth_date=member.birth_date,
        is_insured=member.is_insured,
        has_income_reduction=member.has_income_reduction,
        insured_has_income_reduction=bool(head and head.has_income_reduction),
        insured_birth_date=head.birth_date if head else None,
        insured_remuneration=head.standard_monthly_remuneration if head else None,
        as_of=on,
    )


def printed_fields(
    *, member: Member, insured: Member | None, insurer: Insurer, valid_from: date
) -> dict:
    """Everything a certificate valid from `valid_from` prints, frozen at issue (§6)."""
    copay = printed_copay(member, insured, valid_from)
    return {
        "is_dependent": not member.is_insured,
        "family_name": member.printed_family_name,
        "given_name": member.printed_given_name,
        "family_name_kana": member.family_name_kana,
        "given_name_kana": member.given_name_kana,
        "sex": member.sex,
        "birth_date": member.birth_date,
        "acquired_on": member.acquired_on,
        "symbol": member.office_id,
        "number": member.number,
        "branch": member.branch,
        "relationship": member.relationship,
        "insurer_number": insurer.insurer_number,
        "insurer_name": insurer.name,
        "insurer_address": insurer.address,
        "insured_name": printed_insured_name(member, insured),
        "copay": copay,
        "copay_effective_on": copay_effective_on(
            birth_date=member.birth_date, valid_from=valid_from
        )
        if copay
        else None,
        "office_name": member.office.name,
    }


def printed_insured_name(member: Member, insured: Member | None) -> str:
    """被保険者氏名, printed on a dependent's certificate (RI-1: printed data too)."""
    return insured.printed_full_name if insured and not member.is_insured else ""


def require_insurer() -> Insurer:
    insurer = insurer_get()
    if insurer is None:
        raise ValidationError("保険者が登録されていません（insurer.csv を取り込んでください）。")
    return insurer


def unreturned_certificates(
    as_of: date, *, return_days: int | None = None
) -> QuerySet[Certificate]:
    """RT-1: certificates held on the loss date and not back within N days of it."""
    days = insurer_settings_get().return_deadline_days if return_days is None else return_days
    return Certificate.objects.filter(
        status__in=Certificate.LIVE,
        member__lost_on__isnull=False,
        member__lost_on__lt=as_of - timedelta(days=days),
        valid_until__gte=F("member__lost_on"),
    ).select_related("member")


# --- Envelopes (household mailing, issue 13) -----------------------------------------


def envelopes_awaiting_resend() -> QuerySet[Envelope]:
    """Returned envelopes mailed direct whose documents have not gone out again: the next
    scheduled batch re-sends them through the employer. (An envelope that came back from
    the employer is not sent to the same employer again: it stays on the undelivered list.)"""
    return Envelope.objects.filter(
        status=Envelope.Status.RETURNED, route=Envelope.Route.DIRECT, resent_in__isnull=True
    )


def envelopes_undelivered(today: date, days: int) -> QuerySet[Envelope]:
    """Envelopes that came back `days` or more days ago and whose receipt is not confirmed."""
    return Envelope.objects.filter(
        status__in=Envelope.UNDELIVERED, returned_on__lte=today - timedelta(days=days)
    )
