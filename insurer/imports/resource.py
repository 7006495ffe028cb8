"""What every import shares: decoding, Japanese cell widgets, all-or-nothing, reporting.

The resources in each app declare columns with these widgets; ``StrictModelResource``
makes an import all-or-nothing, checks the header (exactly the documented columns),
the shape of every row and every cell (length, control characters, a My Number where
none belongs), finds duplicate keys in the file and records which rows were skipped.
``import_problems`` turns a result into (line, column, reason) triples for the admin and
the ``import`` command alike. No message ever shows a run of twelve digits
(``shown``): at most the last four, as for a My Number.
"""

import copy
import re

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models.fields import NOT_PROVIDED
from django.utils.encoding import force_str
from import_export import resources, widgets
from import_export.results import Error, Result

from ..history import history_user
from ..masking import has_digit_run, mask_digit_runs, my_number_candidates
from ..rules import is_valid_my_number
from .cells import (
    RequiredTextWidget,
    TextWidget,
    cell_text,
    shown,
)
from .problems import database_problem
from .reading import DatasetSource
from .set_based import PROGRESS_EVERY, RAGGED_ROW, Progress, SetBasedImport

# --- Resources --------------------------------------------------------------------------

DUPLICATE_KEY = "同じキーの行がファイル内の {first}行目にもあります。"
MISSING_COLUMNS = "必須の列がありません: {columns}"
UNKNOWN_COLUMNS = "知らない列があります: {columns}（使える列: {allowed}）"
REPEATED_COLUMNS = "同じ列が2回以上あります: {columns}"
NO_HEADER = "見出しの行がありません（1行目に列名を書きます）。"
CONTROL_CHARACTER = "制御文字（NUL など）は使えません。"
TOO_LONG = "長すぎます（{length}文字。この列は{limit}文字まで）。"
MY_NUMBER_ELSEWHERE = (
    "個人番号と思われる12桁の数字があります。個人番号は my_number の列にだけ入力します。"
)
MAX_CELL_LENGTH = 200  # a column not backed by a model field with its own max_length
MAX_PROBLEM_ROWS = 10_000  # invalid rows whose problems a lean import keeps

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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

    more_invalid_rows = 0  # invalid rows beyond MAX_PROBLEM_ROWS: counted, not kept

    def append_invalid_row(self, number, row, validation_error) -> None:
        """An invalid row's problems, not its cells (nothing shows them); past
        MAX_PROBLEM_ROWS rows only counted, so a file of bad rows stays small."""
        if len(self.invalid_rows) >= MAX_PROBLEM_ROWS:
            self.more_invalid_rows += 1
            return
        super().append_invalid_row(number, {}, validation_error)

    def row_errors(self) -> list:
        return [(row.number, row.errors) for row in self.error_rows]


class StrictModelResource(SetBasedImport, resources.ModelResource):
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

    def __init__(
        self,
        *,
        progress: Progress | None = None,
        lean: bool = False,
        preview: bool = False,
        **kwargs,
    ):
        """`lean`: keep problems and totals only (the command, a confirmed admin import).
        `preview`: the admin's preview of a set-based import: lean, every row checked and
        counted, the first PREVIEW_ROWS rows kept in ``self.preview``."""
        super().__init__(**kwargs)
        if preview and self.set_based:
            lean = True
            self.preview = []
        self.row_problems: dict[int, list[tuple[str, str]]] = {}  # row number -> problems
        self.cleaned_by_column: dict[int, tuple[dict, dict]] = {}  # row -> values, errors
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
        dataset.headers, problems = self.check_header(dataset.headers or [])
        return problems

    def check_header(self, header: list) -> tuple[list[str], list[str]]:
        """(the header's names trimmed, what is wrong with them)."""
        headers = [cell_text(name).lstrip("\ufeff").strip() for name in header]
        if not self.columns:
            return headers, []
        if not any(headers):
            return headers, [NO_HEADER]
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
        return headers, problems

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
            result = self.import_set_based(
                DatasetSource(dataset), dry_run=bool(kwargs.get("dry_run")), user=kwargs.get("user")
            )
            result.preview = self.preview  # the admin preview's rows (None otherwise)
            return result
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset, **kwargs) -> None:
        """The library's path (the admin's preview): the whole dataset as one chunk."""
        self.file_lines = getattr(dataset, "file_lines", None)
        self.rows_total = len(dataset)
        width = len(dataset.headers)
        for number, actual in getattr(dataset, "ragged_rows", {}).items():
            message = RAGGED_ROW.format(expected=width, actual=actual)
            self.refused_rows.setdefault(number, {})[NON_FIELD_ERRORS] = [message]
        self.start_file(list(dataset.headers))
        for row in dataset:
            self.scan_row(row)
        self.before_chunk(dataset, 0)

    def before_chunk(self, dataset, offset: int) -> None:
        """Checks of the rows offset + 1 … offset + len(dataset), before any of them."""
        self.check_cells(dataset, offset)
        self.find_duplicate_keys(dataset, offset)
        self.prepare(dataset, offset)

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

    def check_cells(self, dataset, offset: int = 0) -> None:
        """Every cell once, before any row: control characters, length, and twelve-digit
        numbers (a My Number in a free-text column is refused; in a code, number or date
        column any such run is refused by the column's own check). A refused cell is
        replaced by what a message may show, so no page or message repeats it."""
        for index, column in enumerate(dataset.headers):
            if column in self.my_number_columns or not dataset.height:
                continue
            limit, free_text = self.cell_limit(column), self.is_free_text(column)
            cells = dataset.get_col(index)
            if all(cell.__class__ is str for cell in cells):
                # The usual column, checked at C speed: printable text within the limit,
                # and no run of digits a message would mask ("|" parts the cells: not a
                # digit, nor a separator the twelve-digit patterns allow).
                longest, joined = max(map(len, cells)), "|".join(cells)
                if (
                    longest <= limit
                    and joined.isprintable()
                    and (longest < 12 or not has_digit_run(joined))
                ):
                    continue
            changed = False
            for number, cell in enumerate(cells, start=offset + 1):
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
                        cells[number - offset - 1], changed = masked, True
                if reasons:
                    self.refused_rows.setdefault(number, {})[column] = reasons
                    at = number - offset - 1
                    cells[at], changed = _CONTROL.sub("", shown(cells[at])), True
            if changed:
                del dataset[column]
                dataset.insert_col(index, cells, header=column)

    def find_duplicate_keys(self, dataset, offset: int = 0) -> None:
        """A key seen on an earlier row of the file (this chunk or one before)."""
        if not self.key_columns:
            return
        indexes = [dataset.headers.index(column) for column in self.key_columns]
        first_seen = self.first_seen_keys
        for number, row in enumerate(dataset, start=offset + 1):
            key = tuple(cell_text(row[index]) for index in indexes)
            first = first_seen.setdefault(key, number)
            if first != number:
                message = DUPLICATE_KEY.format(first=self.line_of(first))
                self.row_problems.setdefault(number, []).append((self.key_columns[-1], message))

    def prepare(self, dataset, offset: int = 0) -> None:
        """Load what the rows of a chunk will look up (subclasses)."""

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
        cleaned = self.cleaned_by_column.get(kwargs.get("row_number"))
        if cleaned is not None:  # the chunk's columns, cleaned together (clean_columns)
            values, errors = cleaned
            # What setattr would do, at once: plain fields are the instance's own
            # attributes; a foreign key is its key (attname) and the cached object.
            instance.__dict__.update(values)
            for name, attname, target in self.related_columns():
                if attname in values:
                    related = values[attname]
                    instance._state.fields_cache[name] = related
                    instance.__dict__[attname] = (
                        None if related is None else getattr(related, target)
                    )
            if errors:
                raise ValidationError(errors)
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

    def clean_columns(self, rows: list[dict], offset: int) -> None:
        """Clean a chunk column by column, each distinct cell once (a column's widget is
        a function of the cell: codes, dates, flags and empty cells repeat): row number ->
        ({attname: value}, {attribute: error}) for ``import_fields``. A foreign key's
        value is the related object, under the key's attname (``related_columns``)."""
        self.cleaned_by_column = {}
        plan = self.field_plan()
        if plan is None or not rows:
            return
        count = len(rows)
        names: list[str] = []  # the attnames of the columns cleaned without a problem
        columns: list[list] = []  # their values, row by row
        values: list[dict] = [{} for _ in range(count)]  # the other columns' values
        errors: list[dict] = [{} for _ in range(count)]
        attnames = self.attnames()
        for column, attribute, clean, saves_null in plan:
            if column not in rows[0]:  # an optional column the file leaves out
                continue
            attname = attnames[attribute]
            cells = [row[column] for row in rows]
            try:
                memo = dict.fromkeys(cells)
            except TypeError:  # a cell that cannot be a key: every cell on its own
                memo = None
            if memo is not None:
                for cell in memo:
                    memo[cell] = self.clean_cell(clean, cell)
                outcomes = [memo[cell] for cell in cells]
                if all(ok for ok, _ in memo.values()) and (
                    saves_null or all(value is not None for _, value in memo.values())
                ):
                    names.append(attname)
                    columns.append([value for _, value in outcomes])
                    continue
            else:
                outcomes = [self.clean_cell(clean, cell) for cell in cells]
            for index, (ok, value) in enumerate(outcomes):
                if not ok:
                    errors[index][attribute] = value
                elif value is not None or saves_null:
                    values[index][attname] = value
        by_row = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        if not by_row:
            by_row = [{} for _ in range(count)]
        for index, extra in enumerate(values):
            if extra:
                by_row[index].update(extra)
        self.cleaned_by_column = {
            offset + index + 1: pair for index, pair in enumerate(zip(by_row, errors, strict=True))
        }

    @staticmethod
    def clean_cell(clean, cell) -> tuple[bool, object]:
        """(True, value) or (False, the ValidationError) of one cell of a column."""
        try:
            return True, clean(cell, row=None)
        except ValueError as error:
            return False, ValidationError(force_str(error), code="invalid")

    def attnames(self) -> dict[str, str]:
        """{attribute: the model's attname}: a foreign key's value is stored under its
        attname (``import_fields`` turns the related object into the key)."""
        if not hasattr(self, "_attnames"):
            model_meta = self._meta.model._meta
            self._attnames = {}
            for field in self.get_import_fields():
                if field.attribute and "__" not in field.attribute:
                    try:
                        model_field = model_meta.get_field(field.attribute)
                    except Exception:  # not a model field: set as it is
                        self._attnames[field.attribute] = field.attribute
                        continue
                    self._attnames[field.attribute] = getattr(
                        model_field, "attname", field.attribute
                    )
        return self._attnames

    def related_columns(self) -> list[tuple[str, str, str]]:
        """(field name, attname, attname of the related key) of each foreign key set by
        a column (a to_field key such as Office.symbol included)."""
        if not hasattr(self, "_related_columns"):
            model_meta = self._meta.model._meta
            related = []
            for attribute, attname in self.attnames().items():
                if attname == attribute:
                    continue
                model_field = model_meta.get_field(attribute)
                if model_field.many_to_one:
                    related.append((attribute, attname, model_field.target_field.attname))
            self._related_columns = related
        return self._related_columns

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
