"""Seeded fuzzing of members.csv and status.csv through the real `import` command.

A few hundred files, each a valid file with one or two mutations (a comma lost or
doubled, columns swapped, a header typo or repeated column, a NUL byte, a huge cell, a
My Number or another twelve-digit number in a random column, a 9999 date, CP932 or a BOM,
a truncated file, blank lines). For each: either the command succeeds and the export
matches the file, or it fails and the database is exactly as before; never a traceback;
never twelve digits in a row in anything the command prints.
"""

import csv
import io
import random
import re
from datetime import date, timedelta

import pytest
from django.db import transaction

from members.models import Member, MynaStatus, MyNumber
from members.resources import MEMBER_COLUMNS, STATUS_COLUMNS, MemberResource, MynaStatusResource
from members.rules import my_number_check_digit
from tests.factories import MemberFactory, MynaStatusFactory, OfficeFactory
from tests.importing import run_import

SEED = 20261122
MEMBER_CASES = 200
STATUS_CASES = 100
TWELVE_DIGITS = re.compile(r"[0-9０-９]{12}|[0-9]{4}[- ][0-9]{4}[- ][0-9]{4}")
NAMES = [("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("美咲", "ミサキ")]
MEMBER_DATES = (
    "birth_date",
    "acquired_on",
    "lost_on",
    "notified_on",
    "oqs_registered_on",
    "voluntary_until",
    "residence_expires_on",
)


def a_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def a_my_number(rng: random.Random) -> str:
    first = "".join(rng.choice("0123456789") for _ in range(11))
    return first + str(my_number_check_digit(first))


# --- valid files -------------------------------------------------------------------------


def member_row(rng: random.Random, number: int, branch: str, relationship: str) -> dict:
    family, family_kana = rng.choice(NAMES)
    given, given_kana = rng.choice(GIVEN)
    birth = a_date(rng, date(1950, 1, 1), date(2015, 12, 31))
    acquired = a_date(rng, max(birth, date(2000, 1, 1)), date(2025, 12, 31))
    lost = rng.random() < 0.2
    return {
        "symbol": "1001",
        "number": str(number),
        "branch": branch,
        "relationship": relationship,
        "family_name": family,
        "given_name": given,
        "family_name_kana": family_kana,
        "given_name_kana": given_kana,
        "birth_date": birth.isoformat(),
        "sex": rng.choice("12"),
        "postal_code": rng.choice(["", "100-0001"]),
        "address": rng.choice(["", "東京都千代田区千代田1-1"]),
        "acquired_on": acquired.isoformat(),
        "lost_on": (acquired + timedelta(days=400)).isoformat() if lost else "",
        "loss_reason": "retired" if lost else "",
        "standard_monthly_remuneration": rng.choice(["", "300000"])
        if relationship == "self"
        else "",
        "income_reduction": rng.choice(["", "1"]),
        "notified_on": rng.choice(["", acquired.isoformat()]),
        "oqs_registered_on": "",
        "voluntary_until": rng.choice(["", "2028-03-31"]),
        "residence_expires_on": "",
        "my_number": rng.choice(["", a_my_number(rng)]),
        "certificate_requested": rng.choice(["", "1"]),
        "registered_family_name": rng.choice(["", family]),
        "registered_given_name": "",
    }


def member_file(rng: random.Random) -> tuple[list[str], list[list[str]]]:
    rows = []
    for number in rng.sample(range(1, 8), 3):
        rows.append(member_row(rng, number, "00", "self"))
        if rng.random() < 0.5:
            rows.append(member_row(rng, number, "01", rng.choice(["spouse", "child"])))
    optional = [c for c in MEMBER_COLUMNS[-3:] if rng.random() < 0.6]
    header = [*MEMBER_COLUMNS[:-3], *optional]
    return header, [[row[c] for c in header] for row in rows]


def status_file(rng: random.Random) -> tuple[list[str], list[list[str]]]:
    rows = []
    for number in rng.sample(range(1, 6), 3):
        rows.append(
            [
                "1001",
                str(number),
                "00",
                a_date(rng, date(2026, 1, 1), date(2026, 11, 1)).isoformat(),
                rng.choice(["none", "held", "returned"]),
                rng.choice(["unregistered", "registered", "deregistered"]),
                rng.choice(["", "2029-05-31"]),
            ]
        )
    return list(STATUS_COLUMNS), rows


# --- mutations ---------------------------------------------------------------------------


def to_lines(header, rows) -> list[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().splitlines()


def mutate_cells(rng, header, rows, date_columns) -> str:
    """A mutation of one cell or of the columns; returns its name."""
    kind = rng.choice(
        [
            "nul",
            "huge",
            "my_number",
            "twelve_digits",
            "year_9999",
            "swap_columns",
            "swap_header_names",
            "header_typo",
            "repeated_header",
            "quote_and_newline",
            "none",
            "none",
            "none",
        ]
    )
    row, column = rng.randrange(len(rows)), rng.randrange(len(header))
    if kind == "nul":
        rows[row][column] += "\x00"
    elif kind == "huge":
        rows[row][column] = "東" * rng.choice([300, 200_000])
    elif kind == "my_number":
        rows[row][column] = rng.choice(["", "住所"]) + a_my_number(rng)
    elif kind == "twelve_digits":
        rows[row][column] = "".join(rng.choice("0123456789") for _ in range(12))
    elif kind == "year_9999":
        columns = [i for i, name in enumerate(header) if name in date_columns]
        rows[row][rng.choice(columns)] = "9999-12-31"
    elif kind == "swap_columns":  # the same file in another column order: still valid
        a, b = rng.sample(range(len(header)), 2)
        for line in [header, *rows]:
            line[a], line[b] = line[b], line[a]
    elif kind == "swap_header_names":
        a, b = rng.sample(range(len(header)), 2)
        header[a], header[b] = header[b], header[a]
    elif kind == "header_typo":
        name = header[column]
        cut = rng.randrange(len(name))
        header[column] = name[:cut] + name[cut + 1 :]
    elif kind == "repeated_header":
        header.append(header[column])
        for line in rows:
            line.append(line[column])
    elif kind == "quote_and_newline":
        rows[row][column] = rows[row][column] + '"\n'
    return kind


def mutate_lines(rng, lines: list[str]) -> str:
    kind = rng.choice(["drop_comma", "double_comma", "truncate", "blank_lines", *["none"] * 5])
    index = rng.randrange(1, len(lines))
    line = lines[index]
    commas = [i for i, char in enumerate(line) if char == ","]
    if kind == "drop_comma" and commas:
        at = rng.choice(commas)
        lines[index] = line[:at] + line[at + 1 :]
    elif kind == "double_comma" and commas:
        at = rng.choice(commas)
        lines[index] = line[:at] + "," + line[at:]
    elif kind == "truncate":
        lines[index] = line[: rng.randrange(len(line))]
        del lines[index + 1 :]
    elif kind == "blank_lines":
        lines.insert(index, "")
    return kind


def encode(rng, lines: list[str]) -> tuple[bytes, str | None, str]:
    text = "\r\n".join(lines) + "\r\n"
    kind = rng.choice(["utf-8", "utf-8-sig", "cp932", "cp932-auto"])
    if kind.startswith("cp932"):
        try:
            data = text.encode("cp932")
        except UnicodeEncodeError:
            return text.encode(), None, "utf-8"
        return data, ("cp932" if kind == "cp932" else None), kind
    return text.encode(kind), None, kind


# --- the checks ----------------------------------------------------------------------------


def snapshot() -> tuple:
    return (
        list(Member.objects.order_by("pk").values_list()),
        list(MynaStatus.objects.order_by("pk").values_list()),
        list(MyNumber.objects.order_by("pk").values_list("member_id", "lookup_hash")),
        Member.history.count(),
        MynaStatus.history.count(),
    )


def exported(resource, queryset) -> dict[tuple, dict[str, str]]:
    dataset = resource.export(queryset)
    return {
        (row["symbol"], row["number"], row["branch"]): {k: str(v or "") for k, v in row.items()}
        for row in dataset.dict
    }


def file_rows(data: bytes, encoding: str | None, label: str) -> tuple[list, list[dict]]:
    text = data.decode(encoding or "utf-8-sig", errors="strict") if encoding else None
    if text is None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp932")
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    header = [h.strip() for h in records[0]]
    assert all(len(record) == len(header) for record in records), (
        "a ragged row was imported",
        label,
    )
    return header, [
        {h: c.strip() for h, c in zip(header, record, strict=True)} for record in records[1:]
    ]


def check_case(tmp_path, resource_path, resource, model_filter, data, encoding, label):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    before = snapshot()
    run = run_import(resource_path, path, encoding=encoding)
    printed = run.stdout + run.stderr + run.error
    assert "Traceback" not in printed, label
    assert not TWELVE_DIGITS.search(printed), (label, printed[:2000])
    if not run.ok:
        assert run.error.strip(), label
        assert snapshot() == before, label
        return "refused"
    header, rows = file_rows(data, encoding, label)
    now = exported(resource, model_filter())
    for row in rows:
        key = (row["symbol"], row["number"], row["branch"])
        assert key in now, (label, key)
        for column in header:
            if column != "my_number":
                assert now[key][column] == row[column], (label, key, column)
    return "imported"


@pytest.fixture
def register(db):
    office = OfficeFactory(symbol="1001")
    OfficeFactory(symbol="1002")
    for number in (1, 2, 3, 4, 5):
        member = MemberFactory(office=office, number=str(number), branch="00")
        MynaStatusFactory(member=member, as_of=date(2020, 1, 1))
    return office


def run_cases(tmp_path, rng, count, make_file, date_columns, resource_path, resource, models):
    outcomes = {"imported": 0, "refused": 0}
    for case in range(count):
        header, rows = make_file(rng)
        cell_kind = mutate_cells(rng, header, rows, date_columns)
        lines = to_lines(header, rows)
        line_kind = mutate_lines(rng, lines)
        data, encoding, encoding_kind = encode(rng, lines)
        label = f"case {case}: {cell_kind}, {line_kind}, {encoding_kind}"
        with transaction.atomic():
            outcome = check_case(tmp_path, resource_path, resource, models, data, encoding, label)
            transaction.set_rollback(True)
        outcomes[outcome] += 1
    return outcomes


@pytest.mark.django_db
def test_fuzzed_member_files(tmp_path, register):
    outcomes = run_cases(
        tmp_path,
        random.Random(SEED),
        MEMBER_CASES,
        member_file,
        MEMBER_DATES,
        "members.resources.MemberResource",
        MemberResource(),
        lambda: Member.objects.all(),
    )
    # the mutations are meant to hit both ways
    assert outcomes["imported"] > MEMBER_CASES // 10 and outcomes["refused"] > MEMBER_CASES // 3


@pytest.mark.django_db
def test_fuzzed_status_files(tmp_path, register):
    outcomes = run_cases(
        tmp_path,
        random.Random(SEED + 1),
        STATUS_CASES,
        status_file,
        ("as_of", "ecert_expires_on"),
        "members.resources.MynaStatusResource",
        MynaStatusResource(),
        lambda: MynaStatus.objects.select_related("member"),
    )
    assert outcomes["imported"] > STATUS_CASES // 10 and outcomes["refused"] > STATUS_CASES // 3
