"""Pure rules about people in the register (domain.md §1–§5, §9). No ORM, no clock.

Every function takes the facts and the reference date; the nightly job evaluates the
same rules in SQL and its tests use these functions as the oracle, member by member.
Certificate validity and §7 live in certificates/rules.py.
"""

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import MAXYEAR, date, timedelta
from functools import lru_cache

from insurer.rules import my_number_check_digit

# --- ID-2 個人番号 (the check digit is in insurer/rules.py: imports check every column) --

_MY_NUMBER = re.compile(r"[0-9]{12}")


def normalize_my_number(value: str) -> str:
    """Full-width digits become ASCII; nothing else is forgiven (hyphens, spaces)."""
    return "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" else c for c in (value or "").strip())


def my_number_error(value: str) -> str | None:
    """The reason a 個人番号 is invalid, in Japanese, or None. Never echoes the value."""
    number = normalize_my_number(value)
    if not _MY_NUMBER.fullmatch(number):
        return "個人番号は数字12桁で入力してください（ハイフン・空白は使えません）。"
    if my_number_check_digit(number[:11]) != int(number[11]):
        return "個人番号の検査用数字が正しくありません。"
    return None


def mask_my_number(last4: str) -> str:
    """§11: at most the last four digits are ever shown."""
    return "********" + last4


# --- Kana ------------------------------------------------------------------------------

_KATAKANA = re.compile(r"[\u30A1-\u30FA\u30FC\u30FD\u30FE\u30FB]+")


@lru_cache(maxsize=16_384)  # a file's kana repeat (a million rows, a few thousand names)
def normalize_kana(value: str) -> str:
    """Hiragana and half-width kana become full-width katakana; spaces are removed.

    NFKC turns half-width katakana (with their voicing marks) into full-width; hiragana
    are then shifted to katakana. Used for stored kana and for search input alike.
    """
    text = unicodedata.normalize("NFKC", value or "")
    text = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)
    return "".join(text.split())


def is_katakana(value: str) -> bool:
    return bool(_KATAKANA.fullmatch(value))


def looks_like_kana(value: str) -> bool:
    """True when a search term is kana (any width or script) rather than kanji or digits."""
    normalized = normalize_kana(value)
    return bool(normalized) and is_katakana(normalized)


# --- ID-4 登録用氏名 --------------------------------------------------------------------

# Variation selectors (異体字セレクタ) ask for a glyph variant the national system cannot
# hold; the base character is what gets registered.
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


@lru_cache(maxsize=16_384)
def is_registrable_name(text: str) -> bool:
    """ID-4: every character is in JIS X 0208 — the text encodes in ISO-2022-JP. (CP932 is
    wider: 髙 and 﨑 are CP932 extensions, so "encodes in CP932" is not the test.)"""
    try:
        text.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return True


def unregistrable_characters(text: str) -> str:
    """The characters of `text` the national system cannot hold, each once, in order."""
    return "".join(dict.fromkeys(c for c in text if not is_registrable_name(c)))


def parse_name_substitutions(text: str) -> dict[str, str]:
    """The insurer's substitution table: one `髙=高` (or `髙→高`) per line."""
    table = {}
    for line in (text or "").splitlines():
        source, _, target = line.strip().replace("→", "=").partition("=")
        if source.strip() and target.strip():
            table[source.strip()] = target.strip()
    return table


def registered_name_proposal(*, name: str, kana: str, substitutions: dict[str, str]) -> str:
    """ID-4 for one part of a name: the substitution table, else the kana."""
    proposal = "".join(substitutions.get(c, c) for c in _VARIATION_SELECTORS.sub("", name))
    return proposal if is_registrable_name(proposal) else kana


def is_name_unregistered(
    *, family_name: str, given_name: str, registered_family_name: str, registered_given_name: str
) -> bool:
    """ID-4: the filed name has characters outside JIS X 0208 and no registered name has
    been confirmed yet (flag `name_unregistrable`)."""
    if registered_family_name or registered_given_name:
        return False
    return not is_registrable_name(family_name + given_name)


# --- マイナ保険証 status (§4) -------------------------------------------------------------


def status_row_is_stale(*, stored_as_of: date | None, row_as_of: date) -> bool:
    """§4: a national file row older than what is stored is ignored (equal is applied)."""
    return stored_as_of is not None and row_as_of < stored_as_of


# --- AGE-0 ------------------------------------------------------------------------------


def capped_date(year: int, month: int, day: int) -> date:
    """date(year, month, day), or date.max past year 9999: an absurd stored value (a
    birth date of 9999-12-31) gives a far-future answer instead of stopping a whole run."""
    return date.max if year > MAXYEAR else date(year, month, day)


def anniversary(birth_date: date, years: int) -> date:
    """AGE-0: same month and day `years` later; 29 February becomes 1 March."""
    year = birth_date.year + years
    if year > MAXYEAR:
        return date.max
    try:
        return birth_date.replace(year=year)
    except ValueError:  # 29 February in a non-leap year
        return date(year, 3, 1)


def reach(birth_date: date, years: int) -> date:
    """AGE-0: the day a person legally reaches an age, the day before the anniversary."""
    return anniversary(birth_date, years) - timedelta(days=1)


def born_after_for_under(as_of: date, years: int) -> date:
    """The birth dates b with anniversary(b, years) > as_of are exactly b > this date.

    Used to turn "under 75 on D" into an indexed range on the birth date.
    """
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:  # as_of is 29 February
        return date(as_of.year - years, 2, 28)


# --- Status shown to clerks ------------------------------------------------------------

MYNA_STATES = {
    "no_data": "データなし",
    "no_card": "カード未取得",
    "unregistered": "利用登録なし",
    "registered": "登録済",
    "dereg_requested": "解除申請中",
    "deregistered": "解除済",
    "returned": "カード返納",
}


def myna_state(
    *, card: str | None, registration: str | None, is_dereg_requested: bool = False
) -> str:
    """One word for a person's status, in the precedence the admin filter uses."""
    if card is None:
        return "no_data"
    if card == "returned":
        return "returned"
    if is_dereg_requested:
        return "dereg_requested"
    if registration == "deregistered":
        return "deregistered"
    if card == "none":
        return "no_card"
    if registration == "unregistered":
        return "unregistered"
    return "registered"


# --- Calendar helpers ------------------------------------------------------------------


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > MAXYEAR:
        return date.max
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


# --- AGE-1..AGE-4 ----------------------------------------------------------------------


@lru_cache(maxsize=65536)  # a pure function of the birth date: bulk jobs ask again and again
def preschool_until(birth_date: date) -> date:
    """AGE-1: the first 31 March on or after the day the child reaches 6."""
    reached = reach(birth_date, 6)
    march_31 = date(reached.year, 3, 31)
    return march_31 if reached <= march_31 else capped_date(reached.year + 1, 3, 31)


def is_preschool(birth_date: date, as_of: date) -> bool:
    return as_of <= preschool_until(birth_date)


@lru_cache(maxsize=65536)
def elderly_from(birth_date: date) -> date:
    """AGE-2: the 1st of the month after the month containing reach(dob, 70)."""
    return add_months(first_of_month(reach(birth_date, 70)), 1)


def is_elderly(birth_date: date, as_of: date) -> bool:
    return elderly_from(birth_date) <= as_of


REMUNERATION_THRESHOLD = 280_000  # 現役並み所得 (AGE-3)


def copay_rate(
    *,
    birth_date: date,
    is_insured: bool,
    has_income_reduction: bool,
    insured_birth_date: date | None,
    insured_remuneration: int | None,
    as_of: date,
    insured_has_income_reduction: bool = False,
) -> int:
    """AGE-1..3: the 一部負担金 share, 2 or 3 (割).

    For a dependent, the insured person's 標準報酬月額 and elderly status decide. An
    approved 基準収入額 application makes it 2: the flag on the insured person's row covers
    the whole household (`insured_has_income_reduction`), a dependent's own flag only them.
    For an insured person, `insured_birth_date` and `insured_remuneration` are their own.
    """
    if is_preschool(birth_date, as_of):
        return 2
    if not is_elderly(birth_date, as_of):
        return 3
    if has_income_reduction or (not is_insured and insured_has_income_reduction):
        return 2
    earns_like_working_age = (insured_remuneration or 0) >= REMUNERATION_THRESHOLD
    if is_insured:
        return 3 if earns_like_working_age else 2
    insured_elderly = insured_birth_date is not None and is_elderly(insured_birth_date, as_of)
    return 3 if insured_elderly and earns_like_working_age else 2


def late_elderly_loss_on(birth_date: date) -> date:
    """AGE-4: membership is lost on the 75th anniversary itself."""
    return anniversary(birth_date, 75)


@dataclass(frozen=True)
class Loss:
    lost_on: date
    reason: str  # late_elderly | insured_lost


def loses_at_75(*, birth_date: date, lost_on: date | None) -> bool:
    """AGE-4: the person's membership ends by reaching 75 (no earlier loss recorded);
    a filed loss date on or after the anniversary is the same loss, filed late."""
    return lost_on is None or lost_on >= late_elderly_loss_on(birth_date)


def loss_at_75(
    *,
    birth_date: date,
    acquired_on: date,
    lost_on: date | None,
    is_insured: bool,
    insured_birth_date: date | None,
    insured_lost_on: date | None,
    as_of: date,
) -> Loss | None:
    """AGE-4 as the nightly job applies it on `as_of`: the loss to record, if any.

    Own 75th anniversary → late_elderly. A dependent follows only an insured person's
    loss at 75 (not a retirement or a death before it) → insured_lost on the insured
    person's anniversary; the earlier date wins, a tie is the person's own. A recorded
    loss later than that date is corrected to it, whichever night runs; nothing when a loss
    on or before it is recorded, or when the record starts on or after it (never active).
    """
    candidates = [Loss(late_elderly_loss_on(birth_date), "late_elderly")]
    if (
        not is_insured
        and insured_birth_date is not None
        and loses_at_75(birth_date=insured_birth_date, lost_on=insured_lost_on)
    ):
        candidates.append(Loss(late_elderly_loss_on(insured_birth_date), "insured_lost"))
    due = [loss for loss in candidates if loss.lost_on <= as_of]
    if not due:
        return None
    loss = min(due, key=lambda item: (item.lost_on, item.reason != "late_elderly"))
    if lost_on is not None and lost_on <= loss.lost_on:
        return None
    if loss.lost_on <= acquired_on:
        return None
    return loss


# --- MEM-1, MEM-2 ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """The facts about one member the rules read."""

    birth_date: date
    is_insured: bool
    acquired_on: date
    lost_on: date | None = None
    standard_monthly_remuneration: int | None = None
    has_income_reduction: bool = False
    notified_on: date | None = None
    oqs_registered_on: date | None = None
    voluntary_until: date | None = None
    residence_expires_on: date | None = None
    is_certificate_requested: bool = False


def is_own_membership_active(person: Person, as_of: date) -> bool:
    return (
        person.acquired_on <= as_of
        and (person.lost_on is None or person.lost_on > as_of)
        and as_of < anniversary(person.birth_date, 75)
    )


def is_active(person: Person, insured: Person | None, as_of: date) -> bool:
    """MEM-1. A dependent is not active once their insured person has lost membership
    (by a recorded loss or by reaching 75)."""
    if not is_own_membership_active(person, as_of):
        return False
    if person.is_insured or insured is None:
        return True
    insured_lost = insured.lost_on is not None and insured.lost_on <= as_of
    return not insured_lost and as_of < anniversary(insured.birth_date, 75)


def registration_deadline(notified_on: date, days: int = 5) -> date:
    """MEM-2: calendar days, the first day not counted."""
    return notified_on + timedelta(days=days)


def is_registration_overdue(person: Person, as_of: date, days: int = 5) -> bool:
    """MEM-2: reported, still unregistered in the online system after the deadline."""
    if person.notified_on is None:
        return False
    registered = person.oqs_registered_on is not None and person.oqs_registered_on <= as_of
    return not registered and as_of > registration_deadline(person.notified_on, days)


# --- MY-1, MY-2 and the §5 need reasons ------------------------------------------------


@dataclass(frozen=True)
class CardStatus:
    card: str  # none | held | returned
    registration: str  # unregistered | registered | deregistered
    ecert_expires_on: date | None = None
    is_dereg_requested: bool = False


def ecert_grace_end(expires_on: date) -> date:
    """MY-1: the last day of the third month after the month of expiry."""
    return month_end(add_months(first_of_month(expires_on), 3))


def is_ecert_past_grace(expires_on: date | None, as_of: date) -> bool:
    return expires_on is not None and as_of > ecert_grace_end(expires_on)


def has_usable_card(
    status: CardStatus | None, as_of: date, *, has_open_lost_case: bool = False
) -> bool:
    """MY-2: a usable マイナ保険証 on `as_of`."""
    return (
        status is not None
        and status.card == "held"
        and status.registration == "registered"
        and not status.is_dereg_requested
        and not is_ecert_past_grace(status.ecert_expires_on, as_of)
        and not has_open_lost_case
    )


NEED_REASONS = (
    "no_card",
    "not_registered",
    "deregistered",
    "ecert_expired",
    "card_returned",
    "awaiting_registration",
    "lost_card",
    "care_needs",
)
# Reasons the insurer issues on its own initiative (職権), as opposed to on application.
PUSH_REASONS = frozenset(NEED_REASONS[:6])


def is_awaiting_registration(
    *, is_certificate_requested: bool, oqs_registered_on: date | None, as_of: date
) -> bool:
    """§5 awaiting_registration: a certificate was asked for on acquisition and the
    person is not yet registered in the online system on `as_of`."""
    return is_certificate_requested and (oqs_registered_on is None or oqs_registered_on > as_of)


def certificate_need_reasons(
    status: CardStatus | None,
    as_of: date,
    *,
    has_accepted_lost_card_case: bool = False,
    has_care_needs_approval: bool = False,
    is_awaiting_registration: bool = False,
) -> list[str]:
    """§5: every reason that applies, in the order of precedence."""
    reasons = []
    if status is None or status.card == "none":
        reasons.append("no_card")
    if status is not None:
        if status.card == "held" and status.registration == "unregistered":
            reasons.append("not_registered")
        if status.is_dereg_requested or status.registration == "deregistered":
            reasons.append("deregistered")
        if status.registration == "registered" and is_ecert_past_grace(
            status.ecert_expires_on, as_of
        ):
            reasons.append("ecert_expired")
        if status.card == "returned":
            reasons.append("card_returned")
    if is_awaiting_registration:
        reasons.append("awaiting_registration")
    if has_accepted_lost_card_case:
        reasons.append("lost_card")
    if has_care_needs_approval:
        reasons.append("care_needs")
    return reasons


def certificate_need_reason(
    status: CardStatus | None, as_of: date, **applications: bool
) -> str | None:
    """§5: the reason that counts (the first in precedence), or None."""
    reasons = certificate_need_reasons(status, as_of, **applications)
    return reasons[0] if reasons else None


# --- §9 flags that read the register alone ---------------------------------------------


def is_turning_70(birth_date: date, as_of: date) -> bool:
    """§9: elderly status starts within the next calendar month."""
    start = elderly_from(birth_date)
    next_month = add_months(first_of_month(as_of), 1)
    return next_month <= start <= month_end(next_month)


def is_turning_75(birth_date: date, as_of: date) -> bool:
    """§9: the 75th anniversary falls within the next calendar month."""
    day = anniversary(birth_date, 75)
    next_month = add_months(first_of_month(as_of), 1)
    return next_month <= day <= month_end(next_month)


def register_flags(
    person: Person,
    insured: Person | None,
    status: CardStatus | None,
    as_of: date,
    *,
    registration_deadline_days: int = 5,
    holds_certificate_on: bool = False,
    has_accepted_lost_card_case: bool = False,
    has_care_needs_approval: bool = False,
    is_name_unregistered: bool = False,
) -> set[tuple[str, str]]:
    """§9 for one member on `as_of`: the (flag, reason) pairs that hold.

    Covers the flags that read the register: certificate_needed (with its §5 reason),
    registration_overdue, turning_70, turning_75, name_unregistrable (ID-4). Only active
    members carry flags.
    """
    if not is_active(person, insured, as_of):
        return set()
    flags = set()
    reason = certificate_need_reason(
        status,
        as_of,
        has_accepted_lost_card_case=has_accepted_lost_card_case,
        has_care_needs_approval=has_care_needs_approval,
        is_awaiting_registration=is_awaiting_registration(
            is_certificate_requested=person.is_certificate_requested,
            oqs_registered_on=person.oqs_registered_on,
            as_of=as_of,
        ),
    )
    if reason and not holds_certificate_on:
        flags.add(("certificate_needed", reason))
    if is_registration_overdue(person, as_of, registration_deadline_days):
        flags.add(("registration_overdue", ""))
    if is_turning_70(person.birth_date, as_of):
        flags.add(("turning_70", ""))
    if is_turning_75(person.birth_date, as_of):
        flags.add(("turning_75", ""))
    if is_name_unregistered:
        flags.add(("name_unregistrable", ""))
    return flags
