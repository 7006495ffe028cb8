"""Pure rules about people in the register (domain.md §1, §4). No ORM, no clock.

The age, eligibility and certificate rules join this module with the nightly-jobs issue.
"""

import re
import unicodedata
from datetime import date

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
