"""What every import shares: decoding, Japanese cell widgets, all-or-nothing, reporting.

The resources in each app declare columns with these widgets; ``StrictModelResource``
makes an import all-or-nothing, checks the header, finds duplicate keys in the file and
records which rows were skipped. ``import_problems`` turns a result into
(line, column, reason) triples for the admin and the ``import`` command alike.
"""

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources, widgets
from import_export.formats import base_formats
from import_export.results import Result
from import_export.tmp_storages import TempFolderStorage

from .history import history_user

# --- Reading files ---------------------------------------------------------------------

DEFAULT_ENCODINGS = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"}


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
    raise ValueError(
        f"ファイルを文字コード {' / '.join(tries)} として読めません。"
        "UTF-8 または Shift_JIS（cp932）で保存してください。"
    )


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
    """CSV that accepts bytes in UTF-8 (with or without BOM) or CP932."""

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = decode_upload(in_stream, self.encoding)
        return super().create_dataset(in_stream, **kwargs)

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
    """

    def _cipher(self) -> Fernet:
        seed = f"import-tmp:{settings.MY_NUMBER_KEYS[0]}".encode()
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(seed).digest()))

    def save(self, data) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        token = self._cipher().encrypt(data)
        with self._open(mode="wb") as file:
            file.write(token)

    def read(self) -> bytes:
        with self._open(mode="rb") as file:
            return self._cipher().decrypt(file.read())

    def _open(self, mode="rb"):
        if not self.name:
            self.name = os.urandom(16).hex()
        return open(self.get_full_path(), mode)


# --- Cells -------------------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # spreadsheets turn 0123 into 123.0
        value = int(value)
    return str(value).strip()


class TextWidget(widgets.Widget):
    """Trimmed text; empty stays empty (never None)."""

    def clean(self, value, row=None, **kwargs) -> str:
        return _text(value)

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(value)


class RequiredTextWidget(TextWidget):
    def clean(self, value, row=None, **kwargs) -> str:
        text = _text(value)
        if not text:
            raise ValueError("必須項目です。")
        return text


class DigitsWidget(TextWidget):
    """A code of ASCII digits, e.g. 記号 1–8 digits or 枝番 exactly 2."""

    def __init__(self, *, min_length: int, max_length: int, required: bool = True, **kwargs):
        self.min_length, self.max_length, self.required = min_length, max_length, required
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs) -> str:
        text = _text(value)
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
            raise ValueError(f"半角数字{size}で入力してください（値: {text or '空欄'}）。")
        return text


class DateWidget(widgets.Widget):
    """YYYY-MM-DD (a spreadsheet's own date cells are accepted too)."""

    def __init__(self, *, required: bool = False, **kwargs):
        self.required = required
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = _text(value)
        if not text:
            if self.required:
                raise ValueError("必須項目です。")
            return None
        try:
            return datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(f"日付は YYYY-MM-DD の形で入力してください（値: {text}）。") from None

    def render(self, value, obj=None, **kwargs) -> str:
        return value.isoformat() if value else ""


class CodeWidget(TextWidget):
    """One of a fixed set of codes (e.g. relationship, card status)."""

    def __init__(self, codes, *, required: bool = True, **kwargs):
        self.codes = [str(code) for code in codes]
        self.required = required
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs) -> str:
        text = _text(value)
        if not text and not self.required:
            return ""
        if text not in self.codes:
            raise ValueError(
                f"「{text or '空欄'}」は使えません。{', '.join(self.codes)} のいずれかです。"
            )
        return text


class YenWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs) -> int | None:
        text = _text(value).replace(",", "")
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"金額は半角数字（円）で入力してください（値: {text}）。")
        return int(text)

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(value)


class FlagWidget(widgets.Widget):
    """`1` for yes, empty or `0` for no."""

    def clean(self, value, row=None, **kwargs) -> bool:
        text = _text(value)
        if text not in {"", "0", "1"}:
            raise ValueError(f"「1」または空欄で入力してください（値: {text}）。")
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
        text = _text(value)
        try:
            return self.known[text]
        except KeyError:
            raise ValueError(self.message.format(value=text or "空欄")) from None

    def render(self, value, obj=None, **kwargs) -> str:
        return "" if value is None else str(getattr(value, self.key_attribute, value))


# --- Resources --------------------------------------------------------------------------

DUPLICATE_KEY = "同じキーの行がファイル内の {first}行目にもあります。"
MISSING_COLUMNS = "必須の列がありません: {columns}"


def file_line(row_number: int) -> int:
    """Data row n (1-based) is on line n + 1 of the file: line 1 is the header."""
    return row_number + 1


class StrictModelResource(resources.ModelResource):
    """All-or-nothing imports with every problem reported by line, column and reason.

    Subclasses name ``key_columns`` (duplicates in one file are refused) and
    ``required_columns`` (checked against the header before any row).
    """

    key_columns: tuple[str, ...] = ()
    required_columns: tuple[str, ...] = ()
    change_reason = "ファイル取込"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.row_problems: dict[int, list[tuple[str, str]]] = {}  # row number -> problems

    def import_data(self, dataset, **kwargs) -> Result:
        kwargs["rollback_on_validation_errors"] = True
        kwargs["use_transactions"] = True
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset, **kwargs) -> None:
        headers = [(header or "").strip().lstrip("\ufeff") for header in dataset.headers or []]
        dataset.headers = headers
        missing = [column for column in self.required_columns if column not in headers]
        if missing:
            raise ValidationError(MISSING_COLUMNS.format(columns=", ".join(missing)))
        self.find_duplicate_keys(dataset)
        self.prepare(dataset)

    def find_duplicate_keys(self, dataset) -> None:
        if not self.key_columns:
            return
        first_seen: dict[tuple, int] = {}
        for number, row in enumerate(dataset.dict, start=1):
            key = tuple(_text(row.get(column)) for column in self.key_columns)
            if key in first_seen:
                message = DUPLICATE_KEY.format(first=file_line(first_seen[key]))
                self.row_problems.setdefault(number, []).append((self.key_columns[-1], message))
            else:
                first_seen[key] = number

    def prepare(self, dataset) -> None:
        """Load what the rows will look up, once per file (subclasses)."""

    def row_rule_problems(self, instance, row_number: int | None):
        """(column, message) pairs for rules across columns or rows (subclasses)."""
        return ()

    def get_or_init_instance(self, instance_loader, row):
        try:
            return super().get_or_init_instance(instance_loader, row)
        except ValueError:
            # A key cell is bad: treat the row as new so that every cell is checked and
            # the bad key is reported beside the row's other problems.
            return self.init_instance(row), True

    def import_fields(self, instance, row, **kwargs) -> None:
        """Set the instance's fields from the row (the library's import_instance)."""
        super().import_instance(instance, row, **kwargs)

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
        return "" if attribute == NON_FIELD_ERRORS else attribute


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
                        file_line(invalid.number), resource.column_for(attribute), message
                    )
                )
    for number, errors in result.row_errors():
        for error in errors:
            problems.append(ImportProblem(file_line(number), "", _message(error.error)))
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column))


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return f"処理できない行です（{type(error).__name__}: {error}）。"
