"""Helpers to drive the product the way an operator does: files through the `import`
command, `run_nightly` and `issue_certificates` for a date, the worklist and the
certificates through the `export` command."""

import csv
import io
from datetime import date
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from tests.importing import MEMBER_EXPORT_HEADER, STATUS_HEADER, run_import, write_csv

MEMBERS = "members.resources.MemberResource"
STATUSES = "members.resources.MynaStatusResource"
MEMBER_COLUMNS = MEMBER_EXPORT_HEADER.split(",")


class JobFailed(AssertionError):
    pass


def run_job(command: str, day: date, *, force: bool = False) -> str:
    """The command's output; a non-zero exit is a test failure that shows the output."""
    out, err = StringIO(), StringIO()
    args = [command, "--date", day.isoformat(), *(["--force"] if force else [])]
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exit_:
        output = f"{out.getvalue()}{err.getvalue()}"
        raise JobFailed(f"{command} {day} exited {exit_.code}: {output}") from None
    return out.getvalue()


def night(day: date, *, force: bool = False) -> str:
    return run_job("run_nightly", day, force=force)


def issue(day: date, *, force: bool = False) -> str:
    return run_job("issue_certificates", day, force=force)


def member_row(**values) -> dict[str, str]:
    """A members.csv row: every column, empty unless given."""
    row = dict.fromkeys(MEMBER_COLUMNS, "")
    row.update({key: "" if value is None else str(value) for key, value in values.items()})
    return row


def import_members(
    directory: Path, rows: list[dict], name: str = "members.csv", *, day: date | None = None
) -> None:
    """Through the `import` command; `day` is the file's processing day (`--date`)."""
    lines = [MEMBER_EXPORT_HEADER, *(",".join(row[c] for c in MEMBER_COLUMNS) for row in rows)]
    run = run_import(MEMBERS, write_csv(directory, name, lines), day=day)
    assert run.ok, f"members import refused: {run.error} {run.problems[:5]}"


def import_statuses(
    directory: Path, rows: list[tuple], name: str = "status.csv", *, day: date | None = None
) -> str:
    lines = [STATUS_HEADER, *(",".join("" if v is None else str(v) for v in row) for row in rows)]
    run = run_import(STATUSES, write_csv(directory, name, lines), day=day)
    assert run.ok, f"status import refused: {run.error} {run.problems[:5]}"
    return run.stdout


def export(resource: str) -> list[dict[str, str]]:
    """The rows the `export` command writes (it writes bytes, as to a real stdout)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    call_command("export", "CSV", resource, stdout=out)
    out.flush()
    text = out.buffer.getvalue().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def open_flags() -> set[tuple[str, str, str, str, str]]:
    """(symbol, number, branch, flag, reason) of every open flag, from the export."""
    return {
        (row["symbol"], row["number"], row["branch"], row["flag"], row["reason"])
        for row in export("members.resources.FlagResource")
    }


def certificates() -> list[dict[str, str]]:
    return export("certificates.resources.CertificateResource")
