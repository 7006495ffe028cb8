"""The set-based path of an import (the `import` command and the admin's confirmation)."""

import operator
from collections.abc import Callable

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, transaction
from import_export.results import Error, Result, RowResult

from .cells import cell_text
from .problems import DATABASE_REFUSED

PROGRESS_EVERY = 10_000  # rows between two progress lines of the `import` command
SET_CHUNK = 2_000  # rows checked, then written together, by a set-based import

Progress = Callable[[int, int], None]


class SetBasedImport:
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
