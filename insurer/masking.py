"""Twelve digits in a row — perhaps a My Number — never reach a message, a page or a log.

No Django imports: the logging configuration loads ``MaskTwelveDigits`` before the apps.
"""

import logging
import re
import unicodedata

_DIGITS = "0-9０-９"
_LONG_DIGIT_RUN = re.compile(f"[{_DIGITS}]{{12,}}")
_SEPARATED_TWELVE = re.compile(
    f"(?<![{_DIGITS}])[{_DIGITS}]{{4}}[-‐－ 　]?[{_DIGITS}]{{4}}[-‐－ 　]?[{_DIGITS}]{{4}}(?![{_DIGITS}])"
)


def _mask(match: re.Match) -> str:
    return "********" + match.group()[-4:]


def mask_digit_runs(text: str) -> str:
    """Twelve digits or more (4-4-4 with a hyphen or space too) shown as ********1234."""
    return _SEPARATED_TWELVE.sub(_mask, _LONG_DIGIT_RUN.sub(_mask, text))


def has_digit_run(text: str) -> bool:
    """Whether ``mask_digit_runs`` would mask anything (or ``my_number_candidates`` find
    anything) in `text`."""
    return bool(_LONG_DIGIT_RUN.search(text) or _SEPARATED_TWELVE.search(text))


def my_number_candidates(text: str) -> list[str]:
    """Twelve-digit runs in free text (4-4-4 with a hyphen or space allowed), as ASCII."""
    found = []
    for match in _SEPARATED_TWELVE.finditer(text):
        digits = unicodedata.normalize("NFKC", match.group())
        found.append("".join(char for char in digits if char.isdigit()))
    return found


class MaskTwelveDigits(logging.Filter):
    """A logging filter: the message, its traceback and stack masked before any handler
    writes them (a database error's DETAIL, an exception quoting a value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_digit_runs(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_digit_runs(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_digit_runs(record.stack_info)
        return True
