"""Malformed member and status files are refused, named, in Japanese (issue 9, item 4).

Each test here was a fault: a lost comma shifted columns and imported, a header typo
dropped My Numbers, a duplicate header was accepted, a ragged row ended in an empty
`CommandError: `, a huge cell or a NUL byte gave an English database error, a My Number
in the address was stored, a twelve-digit value was echoed in a message, a birth date or
`as_of` of 9999-12-31 was accepted.
"""

import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import insurer.imports
import insurer.imports.set_based
from insurer.imports import database_problem
from members.models import Member, MynaStatus, MyNumber
from tests.factories import MemberFactory, MynaStatusFactory
from tests.importing import (
    MEMBER_HEADER,
    MEMBER_OPTIONAL_HEADER,
    STATUS_HEADER,
    member_line,
    run_import,
    write_csv,
)
from tests.processes import manage, needs_postgres

MEMBERS = "members.resources.MemberResource"
STATUS = "members.resources.MynaStatusResource"
TWELVE_DIGITS = re.compile(r"[0-9０-９]{12}|\d{4}[- ]\d{4}[- ]\d{4}")
VALID_MY_NUMBER = "983205673214"  # passes ID-2


def import_members(tmp_path, lines, header=MEMBER_HEADER):
    return run_import(MEMBERS, write_csv(tmp_path, "members.csv", [header, *lines]))


def assert_refused(run):
    assert not run.ok
    assert run.error.strip(), "an empty CommandError"
    assert Member.objects.count() == 0
    assert not TWELVE_DIGITS.search(run.stdout + run.stderr + run.error)


# --- the header -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_header_typo_refuses_the_file_and_names_both_columns(tmp_path, office):
    header = MEMBER_HEADER.replace("my_number", "my_numbr")
    run = import_members(tmp_path, [member_line(my_number=VALID_MY_NUMBER)], header)
    assert_refused(run)
    assert run.problems[0].startswith("ファイル全体: 知らない列があります: my_numbr")
    assert run.problems[1] == "ファイル全体: 必須の列がありません: my_number"
    assert len(run.problems) == 2  # no row is looked at


@pytest.mark.django_db
def test_a_repeated_header_column_refuses_the_file(tmp_path, office):
    header = MEMBER_HEADER + ",address"
    run = import_members(tmp_path, [member_line() + ",東京都"], header)
    assert_refused(run)
    assert run.problems == ["ファイル全体: 同じ列が2回以上あります: address"]


@pytest.mark.django_db
def test_every_documented_column_but_the_optional_three_is_required(tmp_path, office):
    header = MEMBER_HEADER.replace("postal_code,", "")
    line = member_line().split(",")
    del line[10]
    run = import_members(tmp_path, [",".join(line)], header)
    assert_refused(run)
    assert run.problems == ["ファイル全体: 必須の列がありません: postal_code"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "optional", ["", "certificate_requested", "registered_given_name,certificate_requested"]
)
def test_any_subset_of_the_optional_columns_is_accepted(tmp_path, office, optional):
    columns = [c for c in optional.split(",") if c]
    values = {"certificate_requested": "1", "registered_given_name": "太郎"}
    header = ",".join([MEMBER_HEADER, *columns])
    run = import_members(
        tmp_path, [",".join([member_line(), *(values[c] for c in columns)])], header
    )
    assert run.ok, run.stderr
    member = Member.objects.get()
    assert member.is_certificate_requested == ("certificate_requested" in columns)
    assert MEMBER_OPTIONAL_HEADER.split(",")[0] == "certificate_requested"


# --- the shape of each row --------------------------------------------------------------


@pytest.mark.django_db
def test_a_lost_comma_refuses_that_line_instead_of_shifting_the_columns(tmp_path, office):
    good = member_line(number="2", remuneration="300000")
    lost_comma = good.replace(",300000,", "300000,")  # remuneration would land in loss_reason
    run = import_members(tmp_path, [member_line(), lost_comma, member_line(number="3")])
    assert_refused(run)
    assert run.problems == ["3行目: 列の数が見出し（22列）と合いません（21列）。"]
    assert "1件の誤り" in run.error


@pytest.mark.django_db
def test_a_row_with_a_cell_too_many_is_refused_and_line_numbers_skip_blank_lines(tmp_path, office):
    run = import_members(tmp_path, [member_line(), "", member_line(number="2") + ",余分"])
    assert_refused(run)
    assert run.problems == ["4行目: 列の数が見出し（22列）と合いません（23列）。"]


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_ragged_row_through_the_real_command_exits_1_with_a_japanese_message(tmp_path):
    from tests.factories import OfficeFactory

    OfficeFactory(symbol="1001")
    path = write_csv(tmp_path, "members.csv", [MEMBER_HEADER, member_line() + ",x"])
    done = manage("import", MEMBERS, str(path), "--format", "csv", "--no-input")
    assert done.returncode == 1
    assert "2行目: 列の数が見出し（22列）と合いません（23列）。" in done.stderr
    assert "CommandError: 1件の誤りがあるため、何も書き込んでいません。" in done.stderr
    assert "Traceback" not in done.stderr
    assert Member.objects.count() == 0


# --- cells ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_ten_megabyte_cell_is_a_japanese_row_error_with_line_and_column(tmp_path, office):
    run = import_members(tmp_path, [member_line(), member_line(number="2", address="東" * 10**7)])
    assert_refused(run)
    assert run.problems == ["3行目 [address]: 長すぎます（10,000,000文字。この列は200文字まで）。"]
    assert len(run.stderr) < 500


@pytest.mark.django_db
def test_a_nul_byte_is_a_japanese_row_error_with_line_and_column(tmp_path, office):
    run = import_members(tmp_path, [member_line(family="山\x00田")])
    assert_refused(run)
    assert run.problems == ["2行目 [family_name]: 制御文字（NUL など）は使えません。"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("address", f"東京都千代田区{VALID_MY_NUMBER}"),
        ("family", VALID_MY_NUMBER),
        ("loss_reason", "9832-0567-3214"),
        ("given", "９８３２０５６７３２１４"),
    ],
)
def test_a_my_number_outside_the_my_number_column_is_refused_and_never_echoed(
    tmp_path, office, column, value
):
    run = import_members(tmp_path, [member_line(**{column: value})])
    assert_refused(run)
    assert len(run.problems) == 1
    assert "個人番号と思われる12桁の数字があります" in run.problems[0]


@pytest.mark.django_db
def test_twelve_digits_that_are_no_my_number_stay_in_free_text(tmp_path, office):
    run = import_members(tmp_path, [member_line(address="倉庫番号123456789012")])
    assert run.ok, run.stderr
    assert Member.objects.get().address == "倉庫番号123456789012"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "column", "shown"),
    [
        ("birth", "birth_date", "（値: ********9012）"),
        ("remuneration", "standard_monthly_remuneration", "（値: ********9012）"),
        ("number", "number", "長すぎます"),
        ("sex", "sex", "長すぎます"),
    ],
)
def test_a_twelve_digit_value_in_a_number_or_date_column_is_masked_in_the_message(
    tmp_path, office, field, column, shown
):
    run = import_members(tmp_path, [member_line(**{field: "123456789012"})])
    assert_refused(run)
    assert run.problems[0].startswith(f"2行目 [{column}]: ")
    assert shown in run.problems[0]


# --- plausible dates --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "column"),
    [
        ("birth", "9999-12-31", "birth_date"),
        ("birth", "1899-12-31", "birth_date"),
        ("birth", "tomorrow", "birth_date"),
        ("acquired", "9999-12-31", "acquired_on"),
        ("notified", "+2y", "notified_on"),
        ("voluntary", "+11y", "voluntary_until"),
        ("lost", "9999-12-31", "lost_on"),
    ],
)
def test_implausible_dates_are_refused(tmp_path, office, field, value, column):
    today = timezone.localdate()
    value = {
        "tomorrow": (today + timedelta(days=1)).isoformat(),
        "+2y": today.replace(year=today.year + 2).isoformat(),
        "+11y": today.replace(year=today.year + 11).isoformat(),
    }.get(value, value)
    run = import_members(tmp_path, [member_line(**{field: value})])
    assert_refused(run)
    assert run.problems[0].startswith(f"2行目 [{column}]: 日付は 1900-01-01 から")


@pytest.mark.django_db
def test_dates_within_the_bounds_are_accepted(tmp_path, office):
    today = timezone.localdate()
    run = import_members(
        tmp_path,
        [
            member_line(
                birth=today.isoformat(),
                acquired=today.isoformat(),
                voluntary=today.replace(year=today.year + 9).isoformat(),
            )
        ],
    )
    assert run.ok, run.stderr


@pytest.mark.django_db
def test_a_status_as_of_of_9999_is_refused_and_cannot_freeze_the_person(tmp_path, office):
    member = MemberFactory(office=office, number="1", branch="00")
    MynaStatusFactory(member=member, as_of=date(2026, 1, 1))
    path = write_csv(
        tmp_path, "status.csv", [STATUS_HEADER, "1001,1,00,9999-12-31,held,registered,"]
    )
    run = run_import(STATUS, path)
    assert not run.ok
    assert run.problems[0].startswith("2行目 [as_of]: 日付は 1900-01-01 から今日から1年後")
    assert MynaStatus.objects.get().as_of == date(2026, 1, 1)


# --- the database's last word -----------------------------------------------------------


@pytest.mark.django_db
def test_a_database_error_becomes_a_japanese_reason_with_the_constraint_message(office):
    MemberFactory(office=office, number="1", branch="00")
    try:
        with transaction.atomic():
            MemberFactory(office=office, number="1", branch="00")
    except IntegrityError as error:
        _, reason = database_problem(error, Member, lambda name: name)
    assert "Key" not in reason and reason.isascii() is False
    assert MyNumber.objects.count() == 0


# --- big files --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_reports_progress_on_stderr(tmp_path, office, monkeypatch):
    import importlib

    command = importlib.import_module("insurer.management.commands.import")
    monkeypatch.setattr(insurer.imports.set_based, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(command, "PROGRESS_FROM", 2)
    lines = [member_line(number=str(n)) for n in range(1, 6)]
    run = import_members(tmp_path, lines)
    assert run.ok, run.stderr
    assert run.problems == [
        "読み込み完了: 5 行。取り込みを始めます。",
        "取込中: 2 / 5 行",
        "取込中: 4 / 5 行",
        "取込中: 5 / 5 行",  # the last line says every row is done
    ]
    assert Member.objects.count() == 5


@pytest.mark.django_db
def test_a_supervisor_undoes_a_future_as_of_and_the_next_national_row_applies(
    tmp_path, office, supervisor_client, clerk_client
):
    from django.urls import reverse

    from members.services import AS_OF_UNDONE

    member = MemberFactory(office=office, number="1", branch="00")
    status = MynaStatusFactory(member=member, as_of=date(2026, 1, 1), card="none")
    MynaStatus.objects.filter(pk=status.pk).update(as_of=date(9999, 12, 31), card="held")
    status = MynaStatus.objects.get(pk=status.pk)
    status.save()  # the wrong row, as an import before the bound recorded it (history)
    row = [STATUS_HEADER, "1001,1,00,2026-11-01,returned,registered,"]
    assert "基準日が古く" in run_import(STATUS, write_csv(tmp_path, "s.csv", row)).stdout

    url = reverse("admin:members_mynastatus_changelist")
    action = {"action": "undo_future_as_of", "_selected_action": [status.pk]}
    clerk_page = clerk_client.post(url, action, follow=True).content.decode()
    assert MynaStatus.objects.get().as_of == date(9999, 12, 31)
    assert "未来の基準日を取り消しました" not in clerk_page
    page = supervisor_client.post(url, action, follow=True).content.decode()
    assert "1件の未来の基準日を取り消しました。" in page
    status.refresh_from_db()
    assert (status.as_of, status.card) == (date(2026, 1, 1), "none")  # the state before
    assert status.history.first().history_change_reason == AS_OF_UNDONE.format(wrong="9999-12-31")
    assert run_import(STATUS, write_csv(tmp_path, "s.csv", row)).ok
    status.refresh_from_db()
    assert (status.as_of, status.card) == (date(2026, 11, 1), "returned")


@pytest.mark.django_db
def test_a_database_refusal_past_the_checks_is_a_japanese_problem_on_its_line(
    tmp_path, office, monkeypatch
):
    """What the database says when a value gets past every check (here: the cell check
    switched off, so a NUL byte reaches PostgreSQL / SQLite)."""
    from insurer.imports import DATABASE_REFUSED, StrictModelResource

    monkeypatch.setattr(StrictModelResource, "check_cells", lambda self, dataset, offset=0: None)
    run = import_members(tmp_path, [member_line(), member_line(number="2", family="山\x00田")])
    if run.ok and connection.vendor == "sqlite":  # SQLite stores a NUL
        assert Member.objects.count() == 2
        return
    assert_refused(run)
    assert run.problems == [f"3行目: {DATABASE_REFUSED}"]


@pytest.mark.django_db
def test_a_my_number_in_an_office_address_is_refused_too(tmp_path):
    from insurer.models import Office

    path = write_csv(
        tmp_path,
        "offices.csv",
        ["symbol,name,postal_code,address,phone", f"1001,本社,,東京都{VALID_MY_NUMBER},"],
    )
    run = run_import("insurer.resources.OfficeResource", path)
    assert not run.ok and Office.objects.count() == 0
    assert run.problems == [
        "2行目 [address]: 個人番号と思われる12桁の数字があります。"
        "個人番号は my_number の列にだけ入力します。"
    ]


@pytest.mark.django_db
def test_a_my_number_typed_as_a_spreadsheet_number_in_the_address_is_refused(tmp_path, office):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(MEMBER_HEADER.split(","))
    row = member_line().split(",")
    row[11] = int(VALID_MY_NUMBER)  # address, as a number cell
    sheet.append(row)
    path = tmp_path / "members.xlsx"
    workbook.save(path)
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import",
            MEMBERS,
            str(path),
            format="xlsx",
            interactive=False,
            stdout=stdout,
            stderr=stderr,
        )
    assert "2行目 [address]: 個人番号と思われる12桁の数字があります" in stderr.getvalue()
    assert not TWELVE_DIGITS.search(stdout.getvalue() + stderr.getvalue())
    assert Member.objects.count() == 0
