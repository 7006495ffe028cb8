"""The set-based path of an import (the `import` command and the admin's confirmation)."""

import operator
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, connections, router, transaction
from import_export.results import Error, Result, RowResult

from .cells import cell_text
from .problems import DATABASE_REFUSED
from .reading import CsvSource, DatasetSource

RAGGED_ROW = "列の数が見出し（{expected}列）と合いません（{actual}列）。"
PROGRESS_EVERY = 10_000  # rows between two progress lines of the `import` command
SET_CHUNK = 2_000  # rows checked, then written together, by a set-based import
PREVIEW_ROWS = 100  # rows an admin preview lists (it checks and counts every row)

Progress = Callable[[int, int], None]


def is_blank(cells: list) -> bool:
    """A row with nothing but spaces (a blank line, or a spreadsheet's empty row)."""
    for cell in cells:
        if cell.__class__ is str:
            if cell.strip():
                return False
        elif cell_text(cell):
            return False
    return True


@dataclass
class PreviewRow:
    """One row of an admin preview, as the import classified it."""

    line: int  # the row's line in the file (line 1 is the header)
    import_type: str  # RowResult.IMPORT_TYPE_NEW / _UPDATE / _SKIP
    # (cell as read, whether it changes the stored value), per column; My Numbers come
    # masked (the resource moved them out of the rows before the check)
    cells: list[tuple[str, bool]] = field(default_factory=list)


class SetBasedImport:
    set_based = False  # subclasses that implement load_existing and write_chunk
    # An admin preview sets a list: the first PREVIEW_ROWS rows are kept here as checked.
    preview: list[PreviewRow] | None = None

    def import_set_based(self, source, *, dry_run: bool, user=None) -> Result:
        """Every row checked as the library would check it (the same hooks), but no per-row
        diff or save: the rows of a chunk are classified new / changed / unchanged in plain
        Python and written together with their history by ``write_chunk``.

        The file is a stream (``reading.CsvSource``, or ``DatasetSource`` for a dataset
        already read), read twice, never held whole. Pass 1 decodes it (choosing the
        encoding), checks the header, counts the rows and keeps what checks across rows
        need (``scan_row``: e.g. the households with an insured row). Pass 2 reads it in
        chunks of SET_CHUNK rows: each chunk is checked and, while no row has failed,
        written. One transaction: after the first problem nothing more is written, every
        later row is still checked (all problems are reported, up to MAX_PROBLEM_ROWS
        rows), and at the end everything is rolled back. Memory: one chunk, plus the keys
        and households of the file."""
        result = self.get_result_class()()
        if not isinstance(source, CsvSource | DatasetSource):
            source = DatasetSource(source)
        headers, problems, total = source.scan(self.scan_file)
        result.diff_headers = list(headers)
        result.total_rows = total
        if problems:
            for message in problems:
                result.append_base_error(Error(ValidationError(message)))
            return result
        self.rows_total = total
        self.file_lines = array("l")
        if self.progress and total >= self.progress_step():
            self.progress(0, total)
        width = len(headers)
        failed = False
        with transaction.atomic():
            tuned = self.tune_transaction()
            records = source.records()
            next(records)  # the header, checked in pass 1
            chunk: list[list[str]] = []
            number = 0
            for line, cells, actual in records:
                if is_blank(cells):
                    continue
                number += 1
                self.file_lines.append(line)
                if actual != width or len(cells) != width:
                    message = RAGGED_ROW.format(expected=width, actual=actual)
                    self.refused_rows.setdefault(number, {})[NON_FIELD_ERRORS] = [message]
                    cells = (list(cells) + [""] * width)[:width]
                chunk.append(cells)
                if len(chunk) == SET_CHUNK:
                    failed = self.import_chunk(
                        headers, chunk, number - len(chunk), result, failed, user
                    )
                    chunk = []
            if chunk:
                failed = self.import_chunk(
                    headers, chunk, number - len(chunk), result, failed, user
                )
            self.untune_transaction(tuned)
            if failed or dry_run:
                transaction.set_rollback(True)
        return result

    TUNED_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}

    def tune_transaction(self) -> dict[str, str]:
        """PostgreSQL, for the import: no JIT and no parallel workers. A chunk's look-ups
        (its keys, households and My Numbers as arrays of 2,000) look expensive enough to
        the planner to be compiled, or to start a worker, which took longer than running
        them (tens of times a file, most of its look-up time at 1,000,000 members); each
        is a few thousand index probes. The settings before (for ``untune_transaction``:
        an import inside a longer transaction leaves it as it was)."""
        connection = connections[router.db_for_write(self._meta.model)]
        if connection.vendor != "postgresql":
            return {}
        previous = {}
        with connection.cursor() as cursor:
            for name, value in self.TUNED_SETTINGS.items():
                cursor.execute(
                    "SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value]
                )
                previous[name] = cursor.fetchone()[0]
        return previous

    def untune_transaction(self, previous: dict[str, str]) -> None:
        if not previous:
            return
        connection = connections[router.db_for_write(self._meta.model)]
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])

    progress_every: int | None = None  # rows between two progress calls (PROGRESS_EVERY)

    def progress_step(self) -> int:
        return self.progress_every or PROGRESS_EVERY

    def scan_file(self, records: Iterator) -> tuple[list[str], list[str], int]:
        """Pass 1: (header, its problems, rows) — and ``scan_row`` for every row."""
        first = next(records, None)
        headers, problems = self.check_header(first[1] if first else [])
        if problems:
            return headers, problems, 0
        self.start_file(headers)
        scan_row, total = self.scan_row, 0
        for _, cells, _ in records:
            if is_blank(cells):
                continue
            total += 1
            scan_row(cells)
        return headers, [], total

    def start_file(self, headers: list[str]) -> None:
        """Before pass 1: where each column is; state across chunks starts empty."""
        self.column_index = {name: index for index, name in enumerate(headers)}
        self.first_seen_keys: dict[tuple, int] = {}

    def scan_row(self, cells: list) -> None:
        """Pass 1, one row: keep what checks across rows need (subclasses)."""

    def import_chunk(
        self, headers: list[str], values: list, offset: int, result: Result, failed: bool, user
    ) -> bool:
        """Check one chunk (rows offset + 1 …) and write it unless a row has failed;
        whether the import has failed so far."""
        dataset = tablib.Dataset(*values, headers=headers)
        self.before_chunk(dataset, offset)
        rows = [dict(zip(headers, row, strict=True)) for row in dataset]
        del dataset, values
        existing = self.load_existing(rows)
        self.clean_columns(rows, offset)
        step = self.progress_step()
        new, changed = [], []
        for number, row in enumerate(rows, start=offset + 1):
            watched = self.preview_watch(row, existing)
            kind, instance = self.check_row(row, number, existing, result)
            if watched is not None:
                self.preview_add(number, kind, row, instance, watched)
            if kind == RowResult.IMPORT_TYPE_NEW:
                new.append(instance)
            elif kind == RowResult.IMPORT_TYPE_UPDATE:
                changed.append(instance)
            if kind == RowResult.IMPORT_TYPE_INVALID:
                failed = True
            else:
                result.totals[kind] += 1
            self.rows_done += 1
            if self.progress and self.rows_done % step == 0:
                self.progress(self.rows_done, self.rows_total)
        del existing, rows
        self.cleaned_by_column = {}
        self.refused_rows.clear()
        self.row_problems.clear()
        if not failed and (new or changed):
            failed = not self.write_safely(new, changed, user, result)
        done, total = self.rows_done, self.rows_total
        if self.progress and done == total >= step and done % step:
            self.progress(done, total)
        return failed

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

    def preview_watch(self, row, existing: dict) -> tuple | None:
        """While a preview still lists rows: (the stored values of the row's record, or
        None for a new row), taken before the row is applied to it."""
        if self.preview is None or len(self.preview) >= PREVIEW_ROWS:
            return None
        stored = existing.get(self.row_key(row))
        return (None if stored is None else self.stored_values(stored),)

    def preview_add(self, number: int, kind: str, row: dict, instance, watched: tuple) -> None:
        if kind == RowResult.IMPORT_TYPE_INVALID:
            return  # the preview shows the problems instead
        changed = set()
        before = watched[0]
        if kind == RowResult.IMPORT_TYPE_UPDATE and before is not None:
            column_of = {attname: attribute for attribute, attname in self.attnames().items()}
            after = self.stored_values(instance)
            for attname, old, new in zip(self.compared_attributes(), before, after, strict=False):
                if old != new:
                    changed.add(self.column_for(column_of.get(attname, attname)))
        cells = [(value, column in changed) for column, value in row.items()]
        self.preview.append(PreviewRow(self.line_of(number), kind, cells))

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
