"""What every import shares: decoding, Japanese cell widgets, all-or-nothing, reporting.

The resources in each app declare columns with these widgets; ``StrictModelResource``
makes an import all-or-nothing, checks the header (exactly the documented columns),
the shape of every row and every cell (length, control characters, a My Number where
none belongs), finds duplicate keys in the file and records which rows were skipped.
``import_problems`` turns a result into (line, column, reason) triples for the admin and
the ``import`` command alike. No message ever shows a run of twelve digits
(``shown``): at most the last four, as for a My Number.
"""

import base64
import contextlib
import copy
import csv
import hashlib
import io
import operator
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime

import tablib
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone
from django.utils.encoding import force_str
from import_export import resources, widgets
from import_export.formats import base_formats
from import_export.results import Error, Result, RowResult
from import_export.tmp_storages import TempFolderStorage

from .history import history_user
from .masking import mask_digit_runs, my_number_candidates
from .rules import is_valid_my_number

# --- Reading files ---------------------------------------------------------------------

DEFAULT_ENCODINGS = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"}
UNREADABLE = (
    "ファイルを文字コード {tries} として読めません。"
    "UTF-8 または Shift_JIS（cp932）で保存してください。"
)


def decode_upload(data: bytes, encoding: str | None) -> str:
    """UTF-8 (BOM or not) by default, CP932 if that fails; an explicit other encoding wins."""
    requested = (encoding or "utf-8-sig").lower()
    tries = ["utf-8-sig", "cp932"] if requested in DEFAULT_ENCODINGS else [requested]
    for candidate in tries:
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise ValueError(f"文字コード「{encoding}」は使えません。") from exc
    raise ValueError(UNREADABLE.format(tries=" / ".join(tries)))


# A cell longer than this is refused by the resource (with its line and column); the
# csv module's own limit (128 KiB) would stop the whole file with an English error.
csv.field_size_limit(64 * 1024 * 1024)


def read_csv(stream: Iterable[str]) -> tablib.Dataset:
    """A dataset of the file's rows, each padded or cut to the header's width.

    The dataset carries ``file_lines`` (the line each row starts on: a quoted cell may
    span lines, blank lines are left out) and ``ragged_rows`` (row number -> the number
    of cells the row really had) for the resource to report.
    """
    reader = csv.reader(stream)
    dataset = tablib.Dataset()
    lines: list[int] = []
    ragged: dict[int, int] = {}
    width = None
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if width is None:
            dataset.headers, width = record, len(record)
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != width:
            ragged[len(lines) + 1] = len(record)
            record = (record + [""] * width)[:width]
        dataset.append(record)
        lines.append(line)
    dataset.file_lines = lines
    dataset.ragged_rows = ragged
    return dataset


# --- What a message may show (insurer/masking.py masks) ---------------------------------

SHOWN_LENGTH = 40


def shown(value) -> str:
    """A cell as a message may quote it: short, and never with twelve digits in a row."""
    text = mask_digit_runs(cell_text(value))
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "…"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeExportMixin:
    """Escapes cells starting with = + - @ (the library only strips a leading '=')."""

    def _escape_formulae(self, dataset) -> None:
        for _ in range(len(dataset)):
            dataset.append([escape_formula(cell) for cell in dataset.lpop()])


class CSV(SafeExportMixin, base_formats.CSV):
    """CSV that accepts bytes in UTF-8 (with or without BOM) or CP932.

    Read by ``read_csv``, not tablib: a row with a cell too few or too many is kept (and
    refused by the resource, named by its line) instead of being padded in silence.
    """

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = decode_upload(in_stream, self.encoding)
        return read_csv(io.StringIO(in_stream, newline=""))

    def read_path(self, path: str) -> tablib.Dataset:
        """A file decoded while it is parsed, as ``decode_upload`` would decode it."""
        requested = (self.encoding or "utf-8-sig").lower()
        tries = ["utf-8-sig", "cp932"] if requested in DEFAULT_ENCODINGS else [requested]
        for candidate in tries:
            try:
                with open(path, encoding=candidate, newline="") as file:
                    return read_csv(file)
            except UnicodeDecodeError:
                continue
            except LookupError as exc:
                raise ValueError(f"文字コード「{self.encoding}」は使えません。") from exc
        raise ValueError(UNREADABLE.format(tries=" / ".join(tries)))

    def get_read_mode(self) -> str:
        return "rb"


class XLSX(SafeExportMixin, base_formats.XLSX):
    pass


IMPORT_FORMATS = [CSV, XLSX]
EXPORT_FORMATS = [CSV, XLSX]
FORMATS_BY_NAME = {"csv": CSV, "xlsx": XLSX}


class EncryptedTempStorage(TempFolderStorage):
    """Keeps an uploaded file between preview and confirmation encrypted on disk.

    A member file carries My Numbers; the library's default leaves it in /tmp as is.
    Files are named ``insurer-import-<random>``; ``remove_abandoned`` deletes those older
    than UPLOAD_MAX_AGE (a preview nobody confirmed), and ``StrictImportMixin`` removes
    the file as soon as a preview fails or an import is confirmed.
    """

    PREFIX = "insurer-import-"
    UPLOAD_MAX_AGE = 2 * 60 * 60  # seconds a preview waits for its confirmation

    def _cipher(self) -> Fernet:
        seed = f"import-tmp:{settings.MY_NUMBER_KEYS[0]}".encode()
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(seed).digest()))

    def save(self, data) -> None:
        self.remove_abandoned()
        if isinstance(data, str):
            data = data.encode("utf-8")
        token = self._cipher().encrypt(data)
        with self._open(mode="wb") as file:
            file.write(token)

    def read(self) -> bytes:
        with self._open(mode="rb") as file:
            return self._cipher().decrypt(file.read())

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.get_full_path())

    def get_full_path(self) -> str:
        return os.path.join(tempfile.gettempdir(), os.path.basename(self.name))

    def _open(self, mode="rb"):
        if not self.name:
            self.name = self.PREFIX + os.urandom(16).hex()
        return open(self.get_full_path(), mode)

    @classmethod
    def owns(cls, name: str | None) -> bool:
        return bool(name) and os.path.basename(name).startswith(cls.PREFIX)

    @classmethod
    def remove_abandoned(cls) -> int:
        """Delete uploads older than UPLOAD_MAX_AGE; returns how many."""
        removed, limit = 0, time.time() - cls.UPLOAD_MAX_AGE
        with os.scandir(tempfile.gettempdir()) as entries:
            for entry in entries:
                if entry.name.startswith(cls.PREFIX) and entry.stat().st_mtime < limit:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(entry.path)
                        removed += 1
        return removed


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


# --- Resources --------------------------------------------------------------------------

DUPLICATE_KEY = "同じキーの行がファイル内の {first}行目にもあります。"
MISSING_COLUMNS = "必須の列がありません: {columns}"
UNKNOWN_COLUMNS = "知らない列があります: {columns}（使える列: {allowed}）"
REPEATED_COLUMNS = "同じ列が2回以上あります: {columns}"
NO_HEADER = "見出しの行がありません（1行目に列名を書きます）。"
RAGGED_ROW = "列の数が見出し（{expected}列）と合いません（{actual}列）。"
CONTROL_CHARACTER = "制御文字（NUL など）は使えません。"
TOO_LONG = "長すぎます（{length}文字。この列は{limit}文字まで）。"
MY_NUMBER_ELSEWHERE = (
    "個人番号と思われる12桁の数字があります。個人番号は my_number の列にだけ入力します。"
)
DATABASE_REFUSED = "データベースに書き込めない値です（長すぎる値、使えない文字など）。"
DATABASE_CONSTRAINT = "データベースの制約に反します（{name}）。"
MAX_CELL_LENGTH = 200  # a column not backed by a model field with its own max_length
PROGRESS_EVERY = 10_000  # rows between two progress lines of the `import` command
SET_CHUNK = 2_000  # rows checked, then written together, by a set-based import

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Progress = Callable[[int, int], None]


def file_line(row_number: int) -> int:
    """Data row n (1-based) is on line n + 1 of a file without blank lines or multi-line
    cells: line 1 is the header. ``StrictModelResource.line_of`` knows the real line."""
    return row_number + 1


class LeanResult(Result):
    """Keeps the problems and the totals, not a result per row: a 200,000-row file in
    the ``import`` command would otherwise hold every row's diff until the end."""

    def append_row_result(self, row_result) -> None:
        if row_result.errors:  # has_errors() reads them here: the rollback depends on it
            super().append_row_result(row_result)

    def row_errors(self) -> list:
        return [(row.number, row.errors) for row in self.error_rows]


class StrictModelResource(resources.ModelResource):
    """All-or-nothing imports with every problem reported by line, column and reason.

    Subclasses name ``columns`` (the documented header, in order; a file must have
    exactly these, in any order, less any of ``optional_columns``) and ``key_columns``
    (duplicates in one file are refused). ``my_number_columns`` hold My Numbers and are
    checked by the subclass; in every other column a number passing ID-2 is refused.
    """

    columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()
    key_columns: tuple[str, ...] = ()
    my_number_columns: tuple[str, ...] = ()
    change_reason = "ファイル取込"

    def __init__(self, *, progress: Progress | None = None, lean: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.row_problems: dict[int, list[tuple[str, str]]] = {}  # row number -> problems
        self.refused_rows: dict[int, dict[str, list[str]]] = {}  # row -> column -> reasons
        self.file_lines: list[int] | None = None
        self.progress = progress
        self.rows_done = 0
        self.rows_total = 0
        self.lean = lean
        if lean:
            self._meta = copy.copy(type(self)._meta)
            self._meta.skip_html_diff = True

    def get_result_class(self):
        return LeanResult if self.lean else super().get_result_class()

    def line_of(self, row_number: int) -> int:
        if self.file_lines and 0 < row_number <= len(self.file_lines):
            return self.file_lines[row_number - 1]
        return file_line(row_number)

    # --- the file as a whole -------------------------------------------------------------

    def header_problems(self, dataset) -> list[str]:
        headers = [cell_text(header).lstrip("\ufeff").strip() for header in dataset.headers or []]
        dataset.headers = headers
        if not self.columns:
            return []
        if not any(headers):
            return [NO_HEADER]
        problems = []
        repeated = sorted({h for h in headers if headers.count(h) > 1}, key=headers.index)
        if repeated:
            problems.append(REPEATED_COLUMNS.format(columns=", ".join(repeated)))
        unknown = [h for h in dict.fromkeys(headers) if h not in self.columns]
        if unknown:
            problems.append(
                UNKNOWN_COLUMNS.format(
                    columns=", ".join(shown(h) or "（空欄）" for h in unknown),
                    allowed=", ".join(self.columns),
                )
            )
        missing = [c for c in self.columns if c not in headers and c not in self.optional_columns]
        if missing:
            problems.append(MISSING_COLUMNS.format(columns=", ".join(missing)))
        return problems

    def import_data(self, dataset, **kwargs) -> Result:
        kwargs["rollback_on_validation_errors"] = True
        kwargs["use_transactions"] = True
        problems = self.header_problems(dataset)
        if problems:  # the rows would only repeat it: refuse the file before any row
            result = self.get_result_class()()
            result.total_rows = len(dataset)
            for message in problems:
                result.append_base_error(Error(ValidationError(message)))
            return result
        if self.set_based and (self.lean or not kwargs.get("dry_run")):
            return self.import_set_based(
                dataset, dry_run=bool(kwargs.get("dry_run")), user=kwargs.get("user")
            )
        return super().import_data(dataset, **kwargs)

    # --- the set-based path (the `import` command and the admin's confirmation) ----------

    set_based = False  # subclasses that implement load_existing and write_chunk

    def import_set_based(self, dataset, *, dry_run: bool, user=None) -> Result:
        """Every row checked as the library would check it (the same hooks), but no per-row
        diff or save: the rows of a chunk are classified new / changed / unchanged in plain
        Python and written together with their history by ``write_chunk``. One
        transaction; after the first problem nothing more is written and at the end
        everything is rolled back, so a file with a bad row still writes nothing. Only
        the problems and the totals are kept (memory: one chunk of instances)."""
        result = self.get_result_class()()
        result.diff_headers = list(dataset.headers)
        result.total_rows = len(dataset)
        failed = False
        with transaction.atomic():
            self.before_import(dataset, dry_run=dry_run, user=user)
            headers = list(dataset.headers)
            for start in range(0, dataset.height, SET_CHUNK):
                rows = [
                    dict(zip(headers, values, strict=True))
                    for values in dataset[start : start + SET_CHUNK]
                ]
                existing = self.load_existing(rows)
                new, changed = [], []
                for number, row in enumerate(rows, start=start + 1):
                    kind, instance = self.check_row(row, number, existing, result)
                    if kind == RowResult.IMPORT_TYPE_NEW:
                        new.append(instance)
                    elif kind == RowResult.IMPORT_TYPE_UPDATE:
                        changed.append(instance)
                    if kind == RowResult.IMPORT_TYPE_INVALID:
                        failed = True
                    else:
                        result.totals[kind] += 1
                    self.rows_done += 1
                    if self.progress and self.rows_done % PROGRESS_EVERY == 0:
                        self.progress(self.rows_done, self.rows_total)
                del existing, rows
                if not failed and (new or changed):
                    failed = not self.write_safely(new, changed, user, result)
            if failed or dry_run:
                transaction.set_rollback(True)
        return result

    def check_row(self, row, number: int, existing: dict, result: Result):
        """(import type, instance) of one row; an invalid row is added to `result`."""
        kwargs = {"row_number": number}
        try:
            self.before_import_row(row, **kwargs)
            instance = existing.get(self.row_key(row))
            new = instance is None
            if new:
                instance = self.init_instance(row)
            before = None if new else self.stored_values(instance)
            errors: dict = {}
            try:
                self.import_instance(instance, row, **kwargs)
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            if not new and not errors and self.unchanged(instance, before):
                return RowResult.IMPORT_TYPE_SKIP, None
            self.validate_instance(instance, errors)
        except ValidationError as error:
            result.append_invalid_row(number, row, error)
            return RowResult.IMPORT_TYPE_INVALID, None
        except Exception as error:  # as import_row: said in Japanese, by column
            column, message = self.database_problem(error)
            problem = ValidationError({column or NON_FIELD_ERRORS: [message]})
            result.append_invalid_row(number, row, problem)
            return RowResult.IMPORT_TYPE_INVALID, None
        instance._import_row_number = number
        return (RowResult.IMPORT_TYPE_NEW if new else RowResult.IMPORT_TYPE_UPDATE), instance

    def write_safely(self, new: list, changed: list, user, result: Result) -> bool:
        """write_chunk in a savepoint. If the database refuses the chunk, its rows are
        written again one by one (each in its own savepoint) to name the rows it refuses,
        in Japanese, on their lines; the import then fails as a whole."""
        try:
            with transaction.atomic():
                self.write_chunk(new, changed, user=user)
            return True
        except DatabaseError:
            pass
        refused = False
        for instance, is_new in [*((i, True) for i in new), *((i, False) for i in changed)]:
            try:
                with transaction.atomic():
                    self.write_chunk(
                        [instance] if is_new else [], [] if is_new else [instance], user=user
                    )
            except DatabaseError as error:
                column, message = self.database_problem(error)
                problem = ValidationError({column or NON_FIELD_ERRORS: [message]})
                result.append_invalid_row(instance._import_row_number, {}, problem)
                refused = True
        if not refused:  # the chunk failed as a whole only (e.g. rows that clash together)
            result.append_base_error(Error(ValidationError(DATABASE_REFUSED)))
        return False

    def row_key(self, row) -> tuple[str, ...]:
        return tuple(cell_text(row.get(column)) for column in self.key_columns)

    def compared_attributes(self) -> list[str]:
        """What decides whether a stored row changed: the attributes the columns set."""
        if not hasattr(self, "_compared"):
            attributes = []
            for field in self.get_import_fields():
                if field.attribute and not field.readonly:
                    model_field = self._meta.model._meta.get_field(field.attribute)
                    attributes.append(model_field.attname)
            self._compared = attributes
        return self._compared

    def stored_values(self, instance) -> tuple:
        if not hasattr(self, "_values_of"):
            self._values_of = operator.attrgetter(*self.compared_attributes(), "pk")
        return self._values_of(instance)

    def unchanged(self, instance, before: tuple) -> bool:
        return self.stored_values(instance) == before

    def load_existing(self, rows: list[dict]) -> dict:
        """{key: stored instance} for the rows of one chunk (subclasses)."""
        raise NotImplementedError

    def write_chunk(self, new: list, changed: list, *, user) -> None:
        """Insert `new`, update `changed`, with their history (subclasses)."""
        raise NotImplementedError

    def before_import(self, dataset, **kwargs) -> None:
        self.file_lines = getattr(dataset, "file_lines", None)
        self.rows_total = len(dataset)
        width = len(dataset.headers)
        for number, actual in getattr(dataset, "ragged_rows", {}).items():
            message = RAGGED_ROW.format(expected=width, actual=actual)
            self.refused_rows.setdefault(number, {})[NON_FIELD_ERRORS] = [message]
        self.check_cells(dataset)
        self.find_duplicate_keys(dataset)
        self.prepare(dataset)

    def cell_limit(self, column: str) -> int:
        field = self.fields.get(column)
        attribute = getattr(field, "attribute", None)
        try:
            limit = self._meta.model._meta.get_field(attribute).max_length
        except Exception:  # not a plain model field (a key across a relation, a lookup)
            limit = None
        return limit or MAX_CELL_LENGTH

    def is_free_text(self, column: str) -> bool:
        field = self.fields.get(column)
        return field is not None and type(field.widget) in (TextWidget, RequiredTextWidget)

    def check_cells(self, dataset) -> None:
        """Every cell once, before any row: control characters, length, and twelve-digit
        numbers (a My Number in a free-text column is refused; in a code, number or date
        column any such run is refused by the column's own check). A refused cell is
        replaced by what a message may show, so no page or message repeats it."""
        for index, column in enumerate(dataset.headers):
            if column in self.my_number_columns or not dataset.height:
                continue
            limit, free_text = self.cell_limit(column), self.is_free_text(column)
            cells = dataset.get_col(index)
            changed = False
            for number, cell in enumerate(cells, start=1):
                if (  # nearly every cell: short, printable text (nothing below applies)
                    cell.__class__ is str and len(cell) < 12 and cell.isprintable()
                ) and len(cell) <= limit:
                    continue
                if isinstance(cell, int | float):  # a spreadsheet's number cell
                    cell = cell_text(cell)
                if not isinstance(cell, str):
                    continue
                reasons = []
                if not cell.isprintable() and _CONTROL.search(cell):
                    reasons.append(CONTROL_CHARACTER)
                if len(cell) > limit:
                    reasons.append(TOO_LONG.format(length=f"{len(cell):,}", limit=limit))
                if len(cell) >= 12:
                    if free_text and any(map(is_valid_my_number, my_number_candidates(cell))):
                        reasons.append(MY_NUMBER_ELSEWHERE)
                    masked = mask_digit_runs(cell)
                    if masked != cell and (reasons or not free_text):
                        cells[number - 1], changed = masked, True
                if reasons:
                    self.refused_rows.setdefault(number, {})[column] = reasons
                    cells[number - 1], changed = _CONTROL.sub("", shown(cells[number - 1])), True
            if changed:
                del dataset[column]
                dataset.insert_col(index, cells, header=column)

    def find_duplicate_keys(self, dataset) -> None:
        if not self.key_columns:
            return
        indexes = [dataset.headers.index(column) for column in self.key_columns]
        first_seen: dict[tuple, int] = {}
        for number, row in enumerate(dataset, start=1):
            key = tuple(cell_text(row[index]) for index in indexes)
            if key in first_seen:
                message = DUPLICATE_KEY.format(first=self.line_of(first_seen[key]))
                self.row_problems.setdefault(number, []).append((self.key_columns[-1], message))
            else:
                first_seen[key] = number

    def prepare(self, dataset) -> None:
        """Load what the rows will look up, once per file (subclasses)."""

    def row_rule_problems(self, instance, row_number: int | None):
        """(column, message) pairs for rules across columns or rows (subclasses)."""
        return ()

    # --- each row ------------------------------------------------------------------------

    def before_import_row(self, row, row_number=None, **kwargs) -> None:
        refused = self.refused_rows.get(row_number)
        if refused:  # a row of the wrong shape or with a refused cell: that is its report
            raise ValidationError(refused)
        super().before_import_row(row, row_number=row_number, **kwargs)

    def after_import_row(self, row, row_result, **kwargs) -> None:
        super().after_import_row(row, row_result, **kwargs)
        self.rows_done += 1
        if self.progress and self.rows_done % PROGRESS_EVERY == 0:
            self.progress(self.rows_done, self.rows_total)

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.errors:  # the database refused the row: say so in Japanese
            column, message = self.database_problem(row_result.errors[-1].error)
            row_result.errors = []
            row_result.import_type = row_result.IMPORT_TYPE_INVALID
            row_result.validation_error = ValidationError({column or NON_FIELD_ERRORS: [message]})
        return row_result

    def database_problem(self, error: Exception) -> tuple[str, str]:
        return database_problem(error, self._meta.model, self.column_for)

    def get_or_init_instance(self, instance_loader, row):
        try:
            return super().get_or_init_instance(instance_loader, row)
        except ValueError:
            # A key cell is bad: treat the row as new so that every cell is checked and
            # the bad key is reported beside the row's other problems.
            return self.init_instance(row), True

    def import_fields(self, instance, row, **kwargs) -> None:
        """Set the instance's fields from the row: the library's import_instance (each
        widget's clean, a ValueError per attribute gathered into one ValidationError),
        without its per-field look-ups when every column is a plain attribute."""
        plan = self.field_plan()
        if plan is None:
            super().import_instance(instance, row, **kwargs)
            return
        errors = {}
        for column, attribute, clean, saves_null in plan:
            if column not in row:
                continue
            try:
                value = clean(row[column], row=row, **kwargs)
            except ValueError as error:
                errors[attribute] = ValidationError(force_str(error), code="invalid")
                continue
            if value is not None or saves_null:
                setattr(instance, attribute, value)
        if errors:
            raise ValidationError(errors)

    def field_plan(self) -> list[tuple] | None:
        """(column, attribute, widget clean, saves null) per writable column, or None
        when a column needs the library (a relation path, a default, many-to-many)."""
        if not hasattr(self, "_field_plan"):
            plan = []
            for field in self.get_import_fields():
                if not field.attribute or field.readonly:
                    continue
                if (
                    "__" in field.attribute
                    or field.default is not NOT_PROVIDED
                    or isinstance(field.widget, widgets.ManyToManyWidget)
                ):
                    plan = None
                    break
                plan.append(
                    (
                        field.column_name,
                        field.attribute,
                        field.widget.clean,
                        field.saves_null_values,
                    )
                )
            self._field_plan = plan
        return self._field_plan

    def import_instance(self, instance, row, **kwargs) -> None:
        errors: dict = {}
        try:
            self.import_fields(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        number = kwargs.get("row_number")
        for column, message in [
            *self.row_problems.get(number, []),
            *self.row_rule_problems(instance, number),
        ]:
            errors.setdefault(column, []).append(message)
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance, row, **kwargs) -> None:
        instance._change_reason = self.change_reason
        instance._history_user = history_user(kwargs.get("user"))

    def column_for(self, attribute: str) -> str:
        for field in self.fields.values():
            if field.attribute == attribute or field.column_name == attribute:
                return field.column_name
        return "" if attribute in (NON_FIELD_ERRORS, None) else attribute


def database_problem(
    error: Exception, model: type[models.Model], column_for: Callable[[str], str]
) -> tuple[str, str]:
    """(column, Japanese reason) for an error the database raised on a row."""
    cause = getattr(error, "__cause__", None)
    diag = getattr(cause, "diag", None)
    column = column_for(getattr(diag, "column_name", None) or "")
    name = getattr(diag, "constraint_name", None)
    if isinstance(error, IntegrityError) and name:
        for constraint in model._meta.constraints:
            if constraint.name == name and getattr(constraint, "violation_error_message", None):
                message = str(constraint.violation_error_message)
                if "%(name)s" not in message:
                    return column, message
        return column, DATABASE_CONSTRAINT.format(name=name)
    if isinstance(error, DatabaseError | ValueError):  # too long, NUL, out of range
        return column, DATABASE_REFUSED
    return column, f"処理できない行です（{type(error).__name__}）。"


@dataclass(frozen=True)
class ImportProblem:
    line: int | None  # line in the file (header = 1); None for the whole file
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.line}行目" if self.line else "ファイル全体"
        column = f" [{self.column}]" if self.column else ""
        return f"{where}{column}: {self.reason}"


def import_problems(result: Result, resource: StrictModelResource) -> list[ImportProblem]:
    """Every problem of an import, in file order, in Japanese."""
    problems = [ImportProblem(None, "", _message(error.error)) for error in result.base_errors]
    for invalid in result.invalid_rows:
        for attribute, messages in invalid.error_dict.items():
            for message in messages:
                problems.append(
                    ImportProblem(
                        resource.line_of(invalid.number),
                        resource.column_for(attribute),
                        mask_digit_runs(str(message)),
                    )
                )
    for number, errors in result.row_errors():
        for error in errors:
            column, message = resource.database_problem(error.error)
            problems.append(ImportProblem(resource.line_of(number), column, message))
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column))


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return mask_digit_runs(" ".join(error.messages))
    return f"取り込めません（{type(error).__name__}）。"
