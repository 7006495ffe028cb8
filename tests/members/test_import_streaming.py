"""The set-based import streams the file: never a dataset of the whole file, checks
across rows (households, keys, My Numbers) still see the whole file, and every problem
is reported on its line even when it lies in a later chunk than the row it refers to."""

import pytest
import tablib

import insurer.imports.resource
import insurer.imports.set_based
from members.models import Member, MynaStatus, MyNumber
from tests.importing import (
    MEMBER_HEADER,
    STATUS_HEADER,
    member_line,
    run_import,
    write_csv,
)

MEMBERS = "members.resources.MemberResource"
STATUS = "members.resources.MynaStatusResource"


@pytest.fixture
def chunks_of_two(monkeypatch) -> list[int]:
    """SET_CHUNK = 2, and the height of every dataset the set-based path builds."""
    heights: list[int] = []

    class Recording(tablib.Dataset):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            heights.append(self.height)

    monkeypatch.setattr(insurer.imports.set_based, "SET_CHUNK", 2)
    monkeypatch.setattr(insurer.imports.set_based.tablib, "Dataset", Recording)
    return heights


@pytest.mark.django_db
def test_a_file_is_read_in_chunks_and_a_dependent_may_come_before_its_insured(
    tmp_path, office, chunks_of_two
):
    lines = [
        MEMBER_HEADER,
        member_line(number="1", branch="01", relationship="spouse", given="花子", sex="2"),
        member_line(number="2"),
        "",  # a blank line: skipped, and the lines after it keep their numbers
        member_line(number="3", my_number="123456789018"),
        member_line(number="1", branch="00"),  # household 1's insured, in a later chunk
        member_line(number="4"),
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "members.csv", lines, encoding="cp932"))
    assert run.ok, run.problems
    assert chunks_of_two == [2, 2, 1]  # never the whole file
    assert Member.objects.count() == 5
    assert MyNumber.objects.get(member__number="3").last4 == "9018"


@pytest.mark.django_db
def test_problems_across_chunks_are_all_reported_on_their_lines(tmp_path, office, chunks_of_two):
    lines = [
        MEMBER_HEADER,
        member_line(number="1", my_number="123456789018"),
        member_line(number="2"),
        member_line(number="3", branch="01", relationship="child"),  # no insured anywhere
        member_line(number="1"),  # the key of line 2
        member_line(number="5", my_number="123456789018"),  # the number of line 2
        member_line(number="6", birth="1980-13-01"),
        member_line(number="7", branch="01") + ",",  # one cell too many
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "members.csv", lines))
    assert not run.ok
    assert run.problems == [
        "4行目 [relationship]: 同じ記号・番号の本人（続柄 self）が登録されていません。",
        "5行目 [branch]: 同じキーの行がファイル内の 2行目にもあります。",
        "6行目 [my_number]: 同じ個人番号がファイル内の 2行目にもあります。",
        "7行目 [birth_date]: 日付は YYYY-MM-DD の形で入力してください（値: 1980-13-01）。",
        "8行目: 列の数が見出し（22列）と合いません（23列）。",
    ]
    assert Member.objects.count() == 0  # the first chunk was written, then rolled back
    assert max(chunks_of_two) == 2


@pytest.mark.django_db
def test_a_status_file_streams_and_writes_history(tmp_path, office, chunks_of_two):
    members = [MEMBER_HEADER, *(member_line(number=str(n)) for n in range(1, 5))]
    assert run_import(MEMBERS, write_csv(tmp_path, "members.csv", members)).ok
    chunks_of_two.clear()
    lines = [
        STATUS_HEADER,
        "1001,1,00,2026-10-01,held,registered,2030-01-01",
        "1001,2,00,2026-10-01,none,unregistered,",
        "1001,3,00,2026-10-01,held,registered,",
    ]
    run = run_import(STATUS, write_csv(tmp_path, "status.csv", lines))
    assert run.ok, run.problems
    assert chunks_of_two == [2, 1]
    assert MynaStatus.objects.filter(member__number__in=["1", "2", "3"]).count() == 3
    stale_and_new = [
        STATUS_HEADER,
        "1001,1,00,2026-09-01,none,unregistered,",  # older than stored: skipped
        "1001,2,00,2026-11-01,held,registered,",  # changed
        "1001,3,00,2026-10-01,held,registered,",  # the same: nothing written
    ]
    history_before = MynaStatus.history.count()
    run = run_import(STATUS, write_csv(tmp_path, "status2.csv", stale_and_new))
    assert run.ok, run.problems
    assert "新規 0件、更新 1件、スキップ 2件" in run.stdout
    assert MynaStatus.history.count() == history_before + 1
    changed = MynaStatus.history.latest("history_date")
    assert (changed.member_id, changed.history_type) == (
        Member.objects.get(number="2").pk,
        "~",
    )
    assert MynaStatus.objects.get(member__number="1").card == "held"


@pytest.mark.django_db
def test_a_file_of_bad_rows_keeps_a_bounded_list_of_problems(tmp_path, office, monkeypatch):
    monkeypatch.setattr(insurer.imports.resource, "MAX_PROBLEM_ROWS", 2)
    lines = [MEMBER_HEADER, *(member_line(number=str(n), sex="9") for n in range(1, 6))]
    run = run_import(MEMBERS, write_csv(tmp_path, "members.csv", lines))
    assert not run.ok
    assert run.problems == [
        "ファイル全体: ほか 3 行にも誤りがあります（最初の 2 行の誤りだけを示しています）。",
        "2行目 [sex]: 「9」は使えません。1, 2 のいずれかです。",
        "3行目 [sex]: 「9」は使えません。1, 2 のいずれかです。",
    ]
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_a_missing_file_is_a_japanese_command_error(tmp_path, office):
    run = run_import(MEMBERS, tmp_path / "nowhere.csv")
    assert not run.ok
    assert run.error.startswith("ファイルを開けません:")
