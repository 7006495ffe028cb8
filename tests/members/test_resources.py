from datetime import date

import pytest

from insurer.imports import CSV, escape_formula
from members.models import Member, MynaStatus, MyNumber, MyNumberAccessLog
from members.resources import MemberResource, MynaStatusResource
from members.services import my_number_register
from tests.factories import MemberFactory, MynaStatusFactory
from tests.importing import (
    MEMBER_EXPORT_HEADER,
    MEMBER_HEADER,
    STATUS_HEADER,
    member_line,
    run_import,
    write_csv,
)

MEMBERS = "members.resources.MemberResource"
STATUS = "members.resources.MynaStatusResource"

GOOD_MEMBERS = [
    MEMBER_HEADER,
    # the dependent comes first: its insured person is further down the same file
    member_line(
        branch="01",
        relationship="spouse",
        given="花子",
        given_kana="ﾊﾅｺ",
        sex="2",
        birth="1982-02-28",
        my_number="123456789018",
    ),
    member_line(
        family_kana="やまだ",
        given_kana="たろう",
        remuneration="300000",
        notified="2020-04-01",
        registered="2020-04-03",
        my_number="983205673214",
    ),
    member_line(
        number="2",
        family="佐藤",
        given="一郎",
        family_kana="ｻﾄｳ",
        given_kana="ｲﾁﾛｳ",
        birth="1956-07-08",
        lost="2026-04-01",
        loss_reason="retired",
        income_reduction="1",
        voluntary="2027-09-30",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "option"), [("utf-8", None), ("utf-8-sig", None), ("cp932", "cp932")]
)
def test_good_member_file(tmp_path, office, encoding, option):
    run = run_import(
        MEMBERS, write_csv(tmp_path, "members.csv", GOOD_MEMBERS, encoding), encoding=option
    )
    assert run.ok, run.stderr
    assert "新規 3件" in run.stdout
    taro = Member.objects.get(office_id="1001", number="1", branch="00")
    assert (taro.family_name_kana, taro.given_name_kana) == ("ヤマダ", "タロウ")
    assert taro.standard_monthly_remuneration == 300000
    assert taro.oqs_registered_on == date(2020, 4, 3)
    hanako = Member.objects.get(office_id="1001", number="1", branch="01")
    assert hanako.given_name_kana == "ハナコ"
    assert hanako.relationship == Member.Relationship.SPOUSE
    ichiro = Member.objects.get(number="2")
    assert ichiro.has_income_reduction and ichiro.lost_on == date(2026, 4, 1)
    assert ichiro.voluntary_until == date(2027, 9, 30)
    assert MyNumber.objects.get(member=taro).last4 == "3214"
    assert MyNumber.objects.get(member=hanako).last4 == "9018"
    assert not MyNumber.objects.filter(member=ichiro).exists()
    assert taro.history.get().history_change_reason == "ファイル取込（members.csv）"
    assert MyNumberAccessLog.objects.filter(action="register").count() == 2


@pytest.mark.django_db
def test_reimport_updates_by_key_and_skips_unchanged_rows(tmp_path, office):
    path = write_csv(tmp_path, "members.csv", GOOD_MEMBERS)
    assert run_import(MEMBERS, path).ok
    assert "スキップ 3件" in run_import(MEMBERS, path).stdout
    changed = [
        GOOD_MEMBERS[0],
        member_line(
            family="山田",
            given="太朗",
            remuneration="300000",
            notified="2020-04-01",
            registered="2020-04-03",
        ),
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "change.csv", changed))
    assert "更新 1件" in run.stdout
    taro = Member.objects.get(number="1", branch="00")
    assert taro.given_name == "太朗"
    assert taro.history.count() == 2
    assert MyNumber.objects.get(member=taro).last4 == "3214"  # an empty cell keeps the number


def bad_file_cases():
    yield "bad check digit", [member_line(my_number="123456789012")], (2, "my_number", "検査用数字")
    yield (
        "unknown office",
        [member_line(symbol="9999")],
        (2, "symbol", "記号「9999」の事業所が登録されていません"),
    )
    yield "bad date", [member_line(birth="1980-02-30")], (2, "birth_date", "YYYY-MM-DD")
    yield (
        "dependent without an insured person",
        [
            member_line(number="7", branch="01", relationship="child"),
        ],
        (2, "relationship", "本人（続柄 self）が登録されていません"),
    )
    yield (
        "duplicate key",
        [member_line(), member_line(given="次郎")],
        (3, "branch", "3行目にもあります"),
    )
    yield "loss before acquisition", [member_line(lost="2019-01-01")], (2, "lost_on", "資格喪失日")
    yield (
        "two insured persons in one household",
        [
            member_line(),
            member_line(branch="01", given="次郎"),
        ],
        (3, "relationship", "本人（self）がすでにいます"),
    )
    yield "kanji in kana", [member_line(family_kana="山田")], (2, "family_name_kana", "カナ以外")
    yield "bad branch", [member_line(branch="1")], (2, "branch", "半角数字2桁")
    yield (
        "bad relationship",
        [member_line(relationship="wife")],
        (2, "relationship", "self, spouse"),
    )
    yield (
        "remuneration on a dependent",
        [
            member_line(),
            member_line(branch="01", relationship="spouse", remuneration="200000"),
        ],
        (3, "standard_monthly_remuneration", "本人"),
    )
    yield (
        "the same My Number twice",
        [
            member_line(my_number="983205673214"),
            member_line(branch="01", relationship="spouse", my_number="983205673214"),
        ],
        (3, "my_number", "3行目にもあります"),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lines", "expected"),
    [pytest.param(lines, expected, id=name) for name, lines, expected in bad_file_cases()],
)
def test_bad_member_files_write_nothing_and_report_the_row(tmp_path, office, lines, expected):
    good_first = member_line(number="500", family="良井")  # a valid row must not be written either
    run = run_import(
        MEMBERS,
        write_csv(tmp_path, "members.csv", [MEMBER_HEADER, good_first, *[line for line in lines]]),
    )
    line, column, reason = expected
    line += 1  # the good row comes first
    assert not run.ok
    assert Member.objects.count() == 0
    assert MyNumber.objects.count() == 0
    prefix = f"{line}行目 [{column}]" if column else f"{line}行目:"
    assert any(problem.startswith(prefix) and reason in problem for problem in run.problems), (
        run.problems
    )


@pytest.mark.django_db
def test_every_bad_row_is_reported_with_all_its_problems(tmp_path, office):
    path = write_csv(
        tmp_path,
        "members.csv",
        [
            MEMBER_HEADER,
            member_line(symbol="9999", birth="1980-13-05", my_number="123456789012"),
            member_line(number="3", branch="01", relationship="child"),
        ],
    )
    run = run_import(MEMBERS, path)
    assert [p.split(":")[0] for p in run.problems] == [
        "2行目 [birth_date]",
        "2行目 [my_number]",
        "2行目 [symbol]",
        "3行目 [relationship]",
    ]
    assert "123456789012" not in run.stderr + run.error


@pytest.mark.django_db
def test_my_number_of_another_member_is_refused(tmp_path, office):
    assert run_import(
        MEMBERS,
        write_csv(tmp_path, "a.csv", [MEMBER_HEADER, member_line(my_number="983205673214")]),
    ).ok
    run = run_import(
        MEMBERS,
        write_csv(
            tmp_path, "b.csv", [MEMBER_HEADER, member_line(number="2", my_number="983205673214")]
        ),
    )
    assert not run.ok
    assert run.problems == ["2行目 [my_number]: この個人番号は別の加入者に登録されています。"]
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_member_export_has_the_import_columns_and_no_my_number(office):
    member = MemberFactory(office=office, number="1", family_name="=HYPERLINK(1)")
    my_number_register(member=member, value="983205673214", user=None, reason="テスト")
    dataset = MemberResource().export()
    assert dataset.headers == MEMBER_EXPORT_HEADER.split(",")
    row = dict(zip(dataset.headers, dataset[0], strict=True))
    assert row["my_number"] == ""
    assert row["symbol"] == "1001" and row["branch"] == "00" and row["sex"] == "1"
    text = CSV().export_data(dataset)
    assert "983205673214" not in text
    assert "'=HYPERLINK(1)" in text  # formula cells are escaped


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+81", "'+81"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("山田", "山田"),
        ("03-1234", "03-1234"),
    ],
)
def test_formula_escaping(cell, escaped):
    assert escape_formula(cell) == escaped


@pytest.mark.django_db
def test_export_command_writes_member_csv_without_my_numbers(office, capsysbinary):
    from django.core.management import call_command

    member = MemberFactory(office=office, number="1", given_name="+太郎")
    my_number_register(member=member, value="983205673214", user=None, reason="テスト")
    call_command("export", "CSV", "members.resources.MemberResource")
    out = capsysbinary.readouterr().out.decode()
    assert out.splitlines()[0] == MEMBER_EXPORT_HEADER
    assert "1001,1,00,self,山田,'+太郎" in out
    assert "983205673214" not in out


# --- national status data -------------------------------------------------------------


@pytest.fixture
def household(office):
    insured = MemberFactory(office=office, number="1")
    spouse = MemberFactory.dependent_of(insured)
    return insured, spouse


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "option"), [("utf-8", None), ("utf-8-sig", None), ("cp932", "cp932")]
)
def test_good_status_file(tmp_path, household, encoding, option):
    insured, spouse = household
    path = write_csv(
        tmp_path,
        "status.csv",
        [
            STATUS_HEADER,
            "1001,1,00,2026-10-31,held,registered,2028-05-05",
            "1001,1,01,2026-10-31,none,unregistered,",
        ],
        encoding,
    )
    run = run_import(STATUS, path, encoding=option)
    assert run.ok, run.stderr
    insured_status = MynaStatus.objects.get(member=insured)
    assert (insured_status.card, insured_status.registration) == ("held", "registered")
    assert insured_status.ecert_expires_on == date(2028, 5, 5)
    assert MynaStatus.objects.get(member=spouse).card == "none"
    assert insured_status.history.get().history_change_reason == "国の状態データ取込（status.csv）"


@pytest.mark.django_db
def test_stale_status_rows_are_skipped_and_counted(tmp_path, household):
    insured, spouse = household
    MynaStatusFactory(member=insured, as_of=date(2026, 10, 31))
    MynaStatusFactory(member=spouse, as_of=date(2026, 10, 31), registration="unregistered")
    path = write_csv(
        tmp_path,
        "status.csv",
        [
            STATUS_HEADER,
            "1001,1,00,2026-09-30,held,unregistered,",  # older than stored: ignored
            "1001,1,01,2026-11-30,held,registered,",
        ],
    )
    run = run_import(STATUS, path)
    assert run.ok
    assert "基準日が古く適用しなかった行 1件: 2行目" in run.stdout
    assert MynaStatus.objects.get(member=insured).registration == "registered"
    assert MynaStatus.objects.get(member=insured).history.count() == 1
    assert MynaStatus.objects.get(member=spouse).registration == "registered"


@pytest.mark.django_db
def test_deregistered_in_national_data_completes_a_pending_request(tmp_path, household):
    insured, _ = household
    MynaStatusFactory(member=insured, dereg_requested_on=date(2026, 10, 5))
    path = write_csv(
        tmp_path, "status.csv", [STATUS_HEADER, "1001,1,00,2026-11-30,held,deregistered,"]
    )
    assert run_import(STATUS, path).ok
    status = MynaStatus.objects.get(member=insured)
    assert status.registration == "deregistered" and status.dereg_requested_on is None


@pytest.mark.django_db
def test_bad_status_file_writes_nothing(tmp_path, household):
    path = write_csv(
        tmp_path,
        "status.csv",
        [
            STATUS_HEADER,
            "1001,1,00,2026-10-31,held,registered,",
            "1001,1,01,2026-10-31,maybe,registered,",
            "1001,9,00,2026-10-31,held,registered,",
            "1001,1,00,2026-10-31,held,registered,2026-02-30",
        ],
    )
    run = run_import(STATUS, path)
    assert not run.ok
    assert MynaStatus.objects.count() == 0
    assert [p.split(":")[0] for p in run.problems] == [
        "3行目 [card]",
        "4行目 [symbol]",
        "5行目 [branch]",
        "5行目 [ecert_expires_on]",
    ]


@pytest.mark.django_db
def test_status_resource_exports_its_own_columns(household):
    MynaStatusFactory(member=household[0], ecert_expires_on=date(2029, 1, 31))
    dataset = MynaStatusResource().export()
    assert dataset.headers == STATUS_HEADER.split(",")
    assert list(dataset[0]) == ["1001", "1", "00", "2026-10-31", "held", "registered", "2029-01-31"]


@pytest.mark.django_db
def test_flag_export_lists_open_flags_in_the_spec_columns(office, capsysbinary):
    from django.core.management import call_command

    from insurer.services import nightly_run

    member = MemberFactory(office=office, number="1", notified_on=date(2026, 11, 1))
    MynaStatusFactory(member=member, card="held", registration="unregistered")
    closed = MemberFactory(office=office, number="2")
    closed_status = MynaStatusFactory(member=closed, card="none", registration="unregistered")
    nightly_run(run_date=date(2026, 11, 20), trigger="test")
    closed_status.card, closed_status.registration = "held", "registered"
    closed_status.save()
    nightly_run(run_date=date(2026, 11, 21), trigger="test")
    call_command("export", "CSV", "members.resources.FlagResource")
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines == [
        "symbol,number,branch,flag,reason,opened_on",
        "1001,1,00,certificate_needed,not_registered,2026-11-20",
        "1001,1,00,registration_overdue,,2026-11-20",
    ]


@pytest.mark.django_db
def test_a_new_my_number_in_a_later_file_replaces_the_old_one_and_is_logged(tmp_path, office):
    assert run_import(
        MEMBERS,
        write_csv(tmp_path, "a.csv", [MEMBER_HEADER, member_line(my_number="983205673214")]),
    ).ok
    run = run_import(
        MEMBERS,
        write_csv(tmp_path, "b.csv", [MEMBER_HEADER, member_line(my_number="123456789018")]),
    )
    assert run.ok and "更新 1件" in run.stdout  # the row itself is unchanged; its number is not
    record = MyNumber.objects.get()
    assert record.last4 == "9018"
    assert list(MyNumberAccessLog.objects.order_by("pk").values_list("action", flat=True)) == [
        "register",
        "change",
    ]
    assert record.history.count() == 2
