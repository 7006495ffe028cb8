"""Cells: what a message may show of a cell, and the Japanese cell widgets every
resource declares its columns with (trimmed text, digits, dates within bounds, codes,
yen, flags, look-ups by natural key)."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime

from django.utils import timezone
from import_export import widgets

from ..masking import mask_digit_runs

# --- What a message may show (insurer/masking.py masks) ---------------------------------

SHOWN_LENGTH = 40


def shown(value) -> str:
    """A cell as a message may quote it: short, and never with twelve digits in a row."""
    text = mask_digit_runs(cell_text(value))
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "…"


# --- Cells -------------------------------------------------------------------------------


def cell_text(value) -> str:
    """A cell as trimmed text; a spreadsheet's 123.0 is 123, an empty cell is ""."""
    if value.__class__ is str:  # nearly every cell: the quick way
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # spreadsheets turn 0123 into 123.0
        value = int(value)
    return str(value).strip()


class TextWidget(widgets.Widget):
    """Trimmed text; empty stays empty (never None)."""

    def clean(self, value, row=None, **kwargs) -> str:
        return cell_text(value)

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(value)


class RequiredTextWidget(TextWidget):
    def clean(self, value, row=None, **kwargs) -> str:
        text = cell_text(value)
        if not text:
            raise ValueError("必須項目です。")
        return text


class DigitsWidget(TextWidget):
    """A code of ASCII digits, e.g. 記号 1–8 digits or 枝番 exactly 2."""

    def __init__(self, *, min_length: int, max_length: int, required: bool = True, **kwargs):
        self.min_length, self.max_length, self.required = min_length, max_length, required
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs) -> str:
        text = cell_text(value)
        if not text and not self.required:
            return ""
        if not (text.isascii() and text.isdigit()) or not (
            self.min_length <= len(text) <= self.max_length
        ):
            size = (
                f"{self.max_length}桁"
                if self.min_length == self.max_length
                else f"{self.min_length}〜{self.max_length}桁"
            )
            raise ValueError(f"半角数字{size}で入力してください（値: {shown(text) or '空欄'}）。")
        return text


EARLIEST_DATE = date(1900, 1, 1)
# The day a file is judged against (its date bounds): today in Asia/Tokyo, unless the
# `import` command is given `--date` (a file dated for another day, or a replay).
_IMPORT_DAY: ContextVar[date | None] = ContextVar("import_day", default=None)


@contextmanager
def import_day(day: date | None) -> Iterator[None]:
    """Judge the files imported inside this block as of `day` (None: today)."""
    token = _IMPORT_DAY.set(day)
    try:
        yield
    finally:
        _IMPORT_DAY.reset(token)


def current_import_day() -> date:
    return _IMPORT_DAY.get() or timezone.localdate()


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # strptime alone takes 2026-1-5


def years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class DateWidget(widgets.Widget):
    """YYYY-MM-DD (a spreadsheet's own date cells are accepted too), within plausible
    bounds: not before 1900-01-01, and not more than ``future_years`` after the day of
    the import (Asia/Tokyo; 0 = not after that day). README "Files" lists them."""

    def __init__(self, *, required: bool = False, future_years: int = 1, **kwargs):
        self.required = required
        self.future_years = future_years
        super().__init__(**kwargs)

    def latest(self) -> date:
        return years_after(current_import_day(), self.future_years)

    def clean(self, value, row=None, **kwargs) -> date | None:
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        else:
            text = cell_text(value)
            if not text:
                if self.required:
                    raise ValueError("必須項目です。")
                return None
            try:
                if not _ISO_DATE.fullmatch(text):
                    raise ValueError
                day = date.fromisoformat(text)  # YYYY-MM-DD only, after the pattern
            except ValueError:
                raise ValueError(
                    f"日付は YYYY-MM-DD の形で入力してください（値: {shown(text)}）。"
                ) from None
        latest = self.latest()
        if not EARLIEST_DATE <= day <= latest:
            day_name = "処理日" if _IMPORT_DAY.get() else "今日"
            limit = day_name if self.future_years == 0 else f"{day_name}から{self.future_years}年後"
            raise ValueError(
                f"日付は {EARLIEST_DATE.isoformat()} から{limit}（{latest.isoformat()}）までの"
                f"範囲で入力してください（値: {day.isoformat()}）。"
            )
        return day

    def render(self, value, obj=None, **kwargs) -> str:
        return value.isoformat() if value else ""


class CodeWidget(TextWidget):
    """One of a fixed set of codes (e.g. relationship, card status)."""

    def __init__(self, codes, *, required: bool = True, **kwargs):
        self.codes = [str(code) for code in codes]
        self.required = required
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs) -> str:
        text = cell_text(value)
        if not text and not self.required:
            return ""
        if text not in self.codes:
            raise ValueError(
                f"「{shown(text) or '空欄'}」は使えません。{', '.join(self.codes)} のいずれかです。"
            )
        return text


class YenWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs) -> int | None:
        text = cell_text(value).replace(",", "")
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"金額は半角数字（円）で入力してください（値: {shown(text)}）。")
        return int(text)

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(value)


class FlagWidget(widgets.Widget):
    """`1` for yes, empty or `0` for no."""

    def clean(self, value, row=None, **kwargs) -> bool:
        text = cell_text(value)
        if text not in {"", "0", "1"}:
            raise ValueError(f"「1」または空欄で入力してください（値: {shown(text)}）。")
        return text == "1"

    def render(self, value, obj=None, **kwargs) -> str:
        return "1" if value else ""


class LookupWidget(widgets.Widget):
    """A foreign key by its natural key, from a dict the resource loads once per file."""

    def __init__(self, *, message: str, key_attribute: str = "pk", **kwargs):
        self.message = message
        self.key_attribute = key_attribute
        self.known: dict[str, object] = {}
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        try:
            return self.known[text]
        except KeyError:
            raise ValueError(self.message.format(value=shown(text) or "空欄")) from None

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(getattr(value, self.key_attribute, value))
