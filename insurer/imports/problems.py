"""Problems of an import as (line, column, reason), in Japanese."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, models
from import_export.results import Result

from ..masking import mask_digit_runs

DATABASE_REFUSED = "データベースに書き込めない値です（長すぎる値、使えない文字など）。"
DATABASE_CONSTRAINT = "データベースの制約に反します（{name}）。"
MORE_ROWS = "ほか {more:,} 行にも誤りがあります（最初の {shown:,} 行の誤りだけを示しています）。"


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


def import_problems(result: Result, resource) -> list[ImportProblem]:
    """Every problem of an import, in file order, in Japanese."""
    problems = [ImportProblem(None, "", _message(error.error)) for error in result.base_errors]
    more = getattr(result, "more_invalid_rows", 0)
    if more:
        shown_rows = len(result.invalid_rows)
        problems.append(ImportProblem(None, "", MORE_ROWS.format(more=more, shown=shown_rows)))
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
