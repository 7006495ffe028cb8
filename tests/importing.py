"""Helpers to run real files through the `import` command."""

from datetime import date
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

MEMBER_HEADER = (
    "symbol,number,branch,relationship,family_name,given_name,family_name_kana,"
    "given_name_kana,birth_date,sex,postal_code,address,acquired_on,lost_on,loss_reason,"
    "standard_monthly_remuneration,income_reduction,notified_on,oqs_registered_on,"
    "voluntary_until,residence_expires_on,my_number"
)
MEMBER_OPTIONAL_HEADER = "certificate_requested,registered_family_name,registered_given_name"
MEMBER_EXPORT_HEADER = f"{MEMBER_HEADER},{MEMBER_OPTIONAL_HEADER}"
STATUS_HEADER = "symbol,number,branch,as_of,card,registration,ecert_expires_on"


def write_csv(directory: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


class ImportRun:
    def __init__(self, ok: bool, stdout: str, stderr: str, error: str = ""):
        self.ok, self.stdout, self.stderr, self.error = ok, stdout, stderr, error

    @property
    def problems(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_import(
    resource: str,
    path: Path,
    *,
    encoding: str | None = None,
    dry_run: bool = False,
    day: date | None = None,
) -> ImportRun:
    stdout, stderr = StringIO(), StringIO()
    options = {
        "format": "csv",
        "interactive": False,
        "stdout": stdout,
        "stderr": stderr,
        "dry_run": dry_run,
    }
    if encoding:
        options["encoding"] = encoding
    if day:
        options["date"] = day.isoformat()
    try:
        call_command("import", resource, str(path), **options)
    except CommandError as error:
        return ImportRun(False, stdout.getvalue(), stderr.getvalue(), str(error))
    return ImportRun(True, stdout.getvalue(), stderr.getvalue())


def member_line(
    symbol="1001",
    number="1",
    branch="00",
    relationship="self",
    family="山田",
    given="太郎",
    family_kana="ヤマダ",
    given_kana="タロウ",
    birth="1980-05-05",
    sex="1",
    acquired="2020-04-01",
    lost="",
    remuneration="",
    my_number="",
    postal="",
    address="",
    loss_reason="",
    income_reduction="",
    notified="",
    registered="",
    voluntary="",
    residence="",
) -> str:
    return ",".join(
        [
            symbol,
            number,
            branch,
            relationship,
            family,
            given,
            family_kana,
            given_kana,
            birth,
            sex,
            postal,
            address,
            acquired,
            lost,
            loss_reason,
            remuneration,
            income_reduction,
            notified,
            registered,
            voluntary,
            residence,
            my_number,
        ]
    )


def recorded_import_run(lines: list[str]):
    """A confirmed member import waiting for its task, as the admin leaves it: the upload
    encrypted in IMPORT_UPLOADS_ROOT and the ImportRun pointing at it."""
    from insurer.imports import EncryptedTempStorage
    from insurer.imports.runs import import_run_create

    storage = EncryptedTempStorage()
    storage.save(("\r\n".join(lines) + "\r\n").encode())
    return import_run_create(
        resource="members.resources.MemberResource",
        upload_name=storage.name,
        file_name="members.csv",
        input_format="csv",
        encoding=None,
        user=None,
    )
