"""Pure rules about people in the register (domain.md §1, §4). No ORM, no clock.

The age, eligibility and certificate rules join this module with the nightly-jobs issue.
"""

import re
import unicodedata
from datetime import date, timedelta

# --- ID-2 個人番号 --------------------------------------------------------------------

_MY_NUMBER = re.compile(r"[0-9]{12}")


def my_number_check_digit(first_eleven: str) -> int:
    """ID-2: P(n) is the n-th digit from the right, Q(n) = n+1 (n ≤ 6) or n−5 (n ≥ 7)."""
    total = 0
    for n, char in enumerate(reversed(first_eleven), start=1):
        total += int(char) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


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


# --- マイナ保険証 status (§4) -------------------------------------------------------------


def status_row_is_stale(*, stored_as_of: date | None, row_as_of: date) -> bool:
    """§4: a national file row older than what is stored is ignored (equal is applied)."""
    return stored_as_of is not None and row_as_of < stored_as_of


# --- AGE-0 ------------------------------------------------------------------------------


def anniversary(birth_date: date, years: int) -> date:
    """AGE-0: same month and day `years` later; 29 February becomes 1 March."""
    try:
        return birth_date.replace(year=birth_date.year + years)
    except ValueError:  # 29 February in a non-leap year
        return date(birth_date.year + years, 3, 1)


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
