"""The set-based member import writes what the row-by-row library path wrote.

The `import` command goes through ``StrictModelResource.import_set_based`` (rows checked
by the same hooks, written per chunk with COPY and bulk history); the library's own path
(a diff and a save per row) is what the admin preview still runs. Both must leave the
same members, history rows, My Numbers and access logs, and a bad row anywhere leaves
the database as it was, even after earlier chunks were written.
"""

import pytest

import insurer.imports
import insurer.imports.set_based
from members.models import Member, MyNumber, MyNumberAccessLog
from members.resources import MemberResource
from tests.importing import MEMBER_HEADER, member_line, run_import, write_csv

MEMBERS = "members.resources.MemberResource"
REASON = "ファイル取込（members.csv）"

FIRST = [
    MEMBER_HEADER,
    member_line(
        branch="01",
        relationship="spouse",
        given="花子",
        given_kana="ﾊﾅｺ",
        sex="2",
        my_number="123456789018",
    ),
    member_line(family_kana="やまだ", remuneration="300000", my_number="983205673214"),
    member_line(number="2", family="髙橋", given="一郎", family_kana="タカハシ", address="旧住所"),
    member_line(number="3", family="佐藤", given="次郎", family_kana="サトウ"),
]
SECOND = [
    MEMBER_HEADER,
    member_line(  # unchanged: the spouse
        branch="01",
        relationship="spouse",
        given="花子",
        given_kana="ハナコ",
        sex="2",
        my_number="123456789018",
    ),
    # changed: remuneration; new My Number
    member_line(family_kana="ヤマダ", remuneration="320000", my_number="605183029486"),
    # changed: the filed name (the registered name is dropped) and the address
    member_line(number="2", family="高橋", given="一郎", family_kana="タカハシ", address="新住所"),
    member_line(number="4", family="鈴木", given="三郎", family_kana="スズキ"),  # new
]
# row 3 unchanged, not in the second file at all


def snapshot() -> dict:
    skip = {"id", "created_at", "updated_at"}
    members = sorted(
        tuple(
            (field.attname, getattr(member, field.attname))
            for field in Member._meta.concrete_fields
            if field.attname not in skip
        )
        for member in Member.objects.all()
    )
    history = sorted(
        (
            h.office_id,
            h.number,
            h.branch,
            h.history_type,
            h.history_change_reason,
            h.history_user_id,
            h.family_name,
            h.family_name_kana,
            h.address,
            h.standard_monthly_remuneration,
            h.registered_family_name,
            h.has_unregistrable_name,
        )
        for h in Member.history.all()
    )
    numbers = sorted(
        (n.member.number, n.member.branch, n.last4)
        for n in MyNumber.objects.select_related("member")
    )
    logs = sorted(
        (log.member.number, log.member.branch, log.action, log.reason)
        for log in MyNumberAccessLog.objects.select_related("member")
    )
    return {"members": members, "history": history, "numbers": numbers, "logs": logs}


def clear_register() -> None:
    MyNumberAccessLog.objects.all().delete()
    MyNumber.objects.all().delete()
    Member.objects.all().delete()
    MyNumber.history.all().delete()  # the deletions' history rows too
    Member.history.all().delete()


@pytest.mark.django_db
def test_the_set_based_path_writes_what_the_row_by_row_path_wrote(tmp_path, office, monkeypatch):
    def run_files() -> tuple[list[str], dict]:
        outputs = []
        for name, lines in (("first.csv", FIRST), ("second.csv", SECOND)):
            run = run_import(MEMBERS, write_csv(tmp_path, name, lines))
            assert run.ok, run.stderr
            outputs.append(run.stdout)
            if name == "first.csv":  # a registered name, dropped when the filed name changes
                Member.objects.filter(number="2").update(
                    registered_family_name="高橋", registered_given_name="一郎"
                )
        return outputs, snapshot()

    fast_outputs, fast = run_files()
    clear_register()
    monkeypatch.setattr(MemberResource, "set_based", False)  # the library, row by row
    slow_outputs, slow = run_files()

    assert fast_outputs == slow_outputs
    assert "新規 4件、更新 0件、スキップ 0件" in fast_outputs[0]
    assert "新規 1件、更新 2件、スキップ 1件" in fast_outputs[1]
    assert fast == slow
    types = [(h[1], h[2], h[3]) for h in fast["history"]]
    assert sorted(types) == sorted(
        [
            ("1", "00", "+"),
            ("1", "00", "~"),
            ("1", "01", "+"),
            ("2", "00", "+"),
            ("2", "00", "~"),
            ("3", "00", "+"),
            ("4", "00", "+"),
        ]
    )
    assert {h[4] for h in fast["history"]} == {REASON}
    takahashi = Member.objects.get(number="2")
    assert (takahashi.family_name, takahashi.registered_family_name) == ("高橋", "")
    assert not takahashi.has_unregistrable_name
    assert fast["numbers"] == [("1", "00", "9486"), ("1", "01", "9018")]


@pytest.mark.django_db
def test_a_bad_row_after_written_chunks_leaves_the_register_as_it_was(
    tmp_path, office, monkeypatch
):
    assert run_import(MEMBERS, write_csv(tmp_path, "first.csv", FIRST)).ok
    before = snapshot()
    monkeypatch.setattr(
        insurer.imports.set_based, "SET_CHUNK", 2
    )  # chunks written before the bad row
    lines = [
        MEMBER_HEADER,
        member_line(number="2", family="高橋", given="一郎", family_kana="タカハシ", address="新"),
        member_line(number="5", family="伊藤", given="四郎", family_kana="イトウ"),
        member_line(number="6", family="渡辺", given="五郎", family_kana="ワタナベ"),
        member_line(number="7", family="中村", given="六郎", family_kana="ナカムラ"),
        member_line(number="8", given_kana="タロウ", birth="1980-02-30"),
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "bad.csv", lines))
    assert not run.ok
    assert run.problems == [
        "6行目 [birth_date]: 日付は YYYY-MM-DD の形で入力してください（値: 1980-02-30）。"
    ]
    assert snapshot() == before


@pytest.mark.django_db
def test_the_admin_confirmation_uses_the_set_based_path_and_records_the_clerk(
    tmp_path, office, monkeypatch
):
    from django.contrib.auth import get_user_model

    from members.resources import MemberResource as Resource
    from tests.importing import MEMBER_HEADER as HEADER

    clerk = get_user_model().objects.create_user("importer")
    calls = []
    original = Resource.import_set_based

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("user"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Resource, "import_set_based", spy)
    dataset = insurer.imports.CSV().create_dataset(
        "\r\n".join([HEADER, member_line(), member_line(number="2")]).encode()
    )
    result = Resource().import_data(dataset, dry_run=False, user=clerk)
    assert not result.has_errors() and not result.has_validation_errors()
    assert calls == [clerk]
    assert set(Member.history.values_list("history_type", "history_user_id")) == {("+", clerk.pk)}
    preview = Resource().import_data(dataset, dry_run=True, user=clerk)  # the library's diff
    assert len(calls) == 1 and [row.import_type for row in preview.rows] == ["skip", "skip"]
