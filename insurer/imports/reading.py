"""Reading files: decoding (UTF-8 with or without BOM, CP932, or the encoding given),
the CSV reader that keeps ragged rows for the resource to report, and the formats."""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

import tablib
from import_export.formats import base_formats

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


T = TypeVar("T")


# --- Streaming: a file read as (line, cells, width) records, twice if need be ---------------

Record = tuple[int, list[str], int]  # (line the row starts on, cells, cells the row had)


def csv_records(stream: Iterable[str]) -> Iterator[Record]:
    """The rows of a CSV text stream, the header first, each with its starting line."""
    reader = csv.reader(stream)
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        yield line, record, len(record)


class CsvSource:
    """A CSV file read as a stream of records, never held whole: ``records()`` opens the
    bytes again each time (``opener``) and decodes them as they are parsed.

    ``scan(visit)`` runs ``visit`` over the records with the first encoding that reads
    the whole file (UTF-8 with or without BOM, then CP932; or the encoding given), and
    keeps that encoding for the later passes.
    """

    def __init__(self, opener: Callable[[], BinaryIO], encoding: str | None = None):
        self.opener = opener
        self.requested = encoding
        requested = (encoding or "utf-8-sig").lower()
        self.tries = ["utf-8-sig", "cp932"] if requested in DEFAULT_ENCODINGS else [requested]
        self.encoding = self.tries[0]

    @classmethod
    def from_path(cls, path: str, encoding: str | None = None) -> "CsvSource":
        return cls(lambda: open(path, "rb"), encoding)

    @classmethod
    def from_bytes(cls, data: bytes, encoding: str | None = None) -> "CsvSource":
        return cls(lambda: io.BytesIO(data), encoding)

    def records(self) -> Iterator[Record]:
        with self.opener() as binary:
            text = io.TextIOWrapper(binary, encoding=self.encoding, newline="")
            yield from csv_records(text)

    def scan(self, visit: Callable[[Iterator[Record]], T]) -> T:
        for candidate in self.tries:
            self.encoding = candidate
            try:
                return visit(self.records())
            except UnicodeDecodeError:
                continue
            except LookupError as exc:
                raise ValueError(f"文字コード「{self.requested}」は使えません。") from exc
        raise ValueError(UNREADABLE.format(tries=" / ".join(self.tries)))


class DatasetSource:
    """A dataset already read (an XLSX file, the admin's upload, a test) as records."""

    def __init__(self, dataset: tablib.Dataset):
        self.dataset = dataset

    def records(self) -> Iterator[Record]:
        dataset = self.dataset
        headers = list(dataset.headers or [])
        yield 1, headers, len(headers)
        lines = getattr(dataset, "file_lines", None)
        ragged = getattr(dataset, "ragged_rows", {})
        for number, row in enumerate(dataset, start=1):
            line = lines[number - 1] if lines else number + 1
            yield line, list(row), ragged.get(number, len(row))

    def scan(self, visit: Callable[[Iterator[Record]], T]) -> T:
        return visit(self.records())
