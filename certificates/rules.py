"""Pure rules for the 資格確認書 (domain.md §6, §7). No ORM, no clock."""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from members.rules import (
    PUSH_REASONS,
    add_months,
    anniversary,
    elderly_from,
    is_elderly,
    month_end,
)

MAX_YEARS = 5


@dataclass(frozen=True)
class ValidityPolicy:
    """The insurer's settings that shape VAL-a (defaults from domain.md)."""

    years: int = 5
    lost_card_months: int = 3
    awaiting_registration_months: int = 2
    round_down_to_month_end: bool = True
    push_valid_until: date | None = None  # one common end date for push-issued certificates


def add_years(day: date, years: int) -> date:
    """Same month and day `years` later; 29 February becomes 1 March (as AGE-0)."""
    return anniversary(day, years)


def _round_down(day: date) -> date:
    """Back to the last day of the previous month unless already a month-end."""
    return day if day == month_end(day) else day.replace(day=1) - timedelta(days=1)


@lru_cache(maxsize=4096)  # pure, and the same few issue dates and reasons all night
def policy_valid_until(*, valid_from: date, reason: str, policy: ValidityPolicy) -> date:
    """VAL-a: N years (M months for a lost card, R months while awaiting registration) less
    a day; for the push reasons the insurer's common end date instead, when one is set;
    optionally back to a month-end; never past valid_from + 5 years − 1 day.

    A common end date that (after rounding) falls before `valid_from` is stale for this
    certificate: the period policy applies, so a forgotten setting never stops issuing.
    """
    if reason == "lost_card":
        end = add_months(valid_from, policy.lost_card_months) - timedelta(days=1)
    elif reason == "awaiting_registration":
        end = add_months(valid_from, policy.awaiting_registration_months) - timedelta(days=1)
    else:
        end = add_years(valid_from, policy.years) - timedelta(days=1)
    if policy.push_valid_until is not None and reason in PUSH_REASONS:
        common = policy.push_valid_until
        if policy.round_down_to_month_end:
            common = _round_down(common)
        if common >= valid_from:
            return min(common, add_years(valid_from, MAX_YEARS) - timedelta(days=1))
    if policy.round_down_to_month_end:
        end = _round_down(end)
    return min(end, add_years(valid_from, MAX_YEARS) - timedelta(days=1))


def certificate_caps(
    *,
    valid_from: date,
    birth_date: date,
    voluntary_until: date | None = None,
    residence_expires_on: date | None = None,
    insured_birth_date: date | None = None,
) -> date:
    """§6 VAL-b … VAL-f: the earliest day the person's own situation ends a certificate
    valid from `valid_from`. `insured_birth_date` is given for a dependent (VAL-f)."""
    ends = [anniversary(birth_date, 75) - timedelta(days=1)]  # VAL-b
    if not is_elderly(birth_date, valid_from):  # VAL-c: a new certificate at 70
        ends.append(elderly_from(birth_date) - timedelta(days=1))
    ends.extend(day for day in (voluntary_until, residence_expires_on) if day)  # VAL-d, e
    if insured_birth_date is not None:  # VAL-f
        ends.append(anniversary(insured_birth_date, 75) - timedelta(days=1))
    return min(ends)


def certificate_valid_until(
    *,
    valid_from: date,
    birth_date: date,
    reason: str,
    policy: ValidityPolicy,
    voluntary_until: date | None = None,
    residence_expires_on: date | None = None,
    insured_birth_date: date | None = None,
) -> date:
    """§6: the earliest of VAL-a … VAL-f."""
    return min(
        policy_valid_until(valid_from=valid_from, reason=reason, policy=policy),
        certificate_caps(
            valid_from=valid_from,
            birth_date=birth_date,
            voluntary_until=voluntary_until,
            residence_expires_on=residence_expires_on,
            insured_birth_date=insured_birth_date,
        ),
    )


def renewal_starts_on(previous_valid_until: date) -> date:
    """RN-1: a renewal starts the day after the old certificate ends: no gap, no overlap."""
    return previous_valid_until + timedelta(days=1)


def is_renewal_due(
    *,
    valid_until: date,
    as_of: date,
    lead_days: int,
    has_successor: bool,
    active_after: bool,
    residence_expires_on: date | None,
    has_need_reason: bool,
) -> bool:
    """RN-1. `active_after`: the member is active on valid_until + 1;
    `has_need_reason`: a §5 reason still applies on `as_of` (a care_needs approval in
    force, or an open lost-card case, count as reasons)."""
    return (
        valid_until >= as_of
        and (valid_until - as_of).days <= lead_days
        and not has_successor
        and active_after
        and (residence_expires_on is None or residence_expires_on > valid_until)
        and has_need_reason
    )


@dataclass(frozen=True)
class PrintedData:
    """What a certificate prints that can go stale (RI-1)."""

    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    symbol: str
    number: str
    branch: str
    sex: str
    birth_date: date
    copay: int | None  # printed only in elderly status
    insured_name: str = ""  # 被保険者氏名, printed on a dependent's certificate


def is_in_effect(*, valid_from: date, valid_until: date, as_of: date) -> bool:
    return valid_from <= as_of <= valid_until


def is_reissue_needed(*, printed: PrintedData, current: PrintedData, is_active: bool) -> bool:
    """RI-1: the certificate in effect prints something that differs from today's data,
    for a member active today (one who has lost membership is asked to return it, RT-1)."""
    return is_active and printed != current


def reissue_valid_until(*, old_valid_until: date, capped_valid_until: date) -> date:
    """RI-1: the old end date, shortened only if a §6 cap (VAL-b … VAL-f, from
    `certificate_caps`) now ends earlier; the policy date (VAL-a) is not recomputed."""
    return min(old_valid_until, capped_valid_until)


def is_return_requested(
    *,
    valid_until: date,
    as_of: date,
    is_superseded: bool,
    is_active: bool,
    has_usable_card: bool,
    has_care_needs_approval: bool,
    is_awaiting_registration: bool = False,
) -> bool:
    """RT-1: an unexpired, unsuperseded certificate held by someone who has lost
    membership, or who has a usable マイナ保険証, no 要配慮者 approval and is not awaiting
    registration in the online system."""
    if valid_until < as_of or is_superseded:
        return False
    keeps_it = has_care_needs_approval or is_awaiting_registration
    return not is_active or (has_usable_card and not keeps_it)


def is_unreturned(*, lost_on: date, as_of: date, return_days: int = 5) -> bool:
    """RT-1: not back within `return_days` of the loss date."""
    return as_of > lost_on + timedelta(days=return_days)


def is_expired(*, valid_until: date, as_of: date) -> bool:
    """EX-1."""
    return valid_until < as_of


# --- Printing ---------------------------------------------------------------------------

ERAS = (  # (first day, name)
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1873, 1, 1), "明治"),  # the solar calendar's first day; enough for any member
)


def japanese_date(day: date) -> str:
    """令和8年4月15日 (year 1 of an era prints 元年)."""
    for start, name in ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    raise ValueError(f"{day} is before the eras this product prints")


def copay_effective_on(*, birth_date: date, valid_from: date) -> date:
    """発効期日 of the printed cost share: the day elderly status started, or the first
    day of this certificate if that was earlier (the share in force when it was issued)."""
    return max(elderly_from(birth_date), valid_from)
