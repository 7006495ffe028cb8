"""The per-column shortcuts of the set-based member import: whole columns checked and
cleaned at once, each distinct value once, with the same outcome, on the same lines, as
cell by cell."""

import pytest

from insurer.masking import has_digit_run, mask_digit_runs
from members.models import Member, MyNumber
from members.resources import MemberResource
from tests.importing import MEMBER_HEADER, member_line, run_import, write_csv

MEMBERS = "members.resources.MemberResource"
VALID_MY_NUMBER = "123456789018"


@pytest.mark.parametrize(
    "cells",
    [
        ["東京都千代田区千代田1-1", "大阪府大阪市北区梅田12-3-4 転居先"],
        ["123456", "789012"],  # twelve digits only across two cells
        ["1234", "5678-9012"],
        ["電話 0312-3456", "7890"],
    ],
)
def test_a_column_joined_by_a_bar_has_no_digit_run_its_cells_do_not_have(cells):
    assert not any(has_digit_run(cell) for cell in cells)
    assert not has_digit_run("|".join(cells))


@pytest.mark.parametrize(
    "cell", ["123456789012", "1234-5678-9012", "１２３４５６７８９０１２", "電話 1234 5678 9012"]
)
def test_a_digit_run_is_found_where_a_message_would_mask_it(cell):
    assert has_digit_run(cell) and mask_digit_runs(cell) != cell
    assert has_digit_run("|".join(["東京都千代田区千代田1-1", cell, "大阪府"]))


@pytest.mark.django_db
def test_long_cells_pass_at_once_and_a_number_among_them_is_still_refused(tmp_path, office):
    addresses = [f"東京都千代田区千代田{n}丁目{n}番地 ハイツ{n}号室" for n in range(1, 5)]
    lines = [MEMBER_HEADER] + [
        member_line(number=str(n), address=address) for n, address in enumerate(addresses, 1)
    ]
    assert run_import(MEMBERS, write_csv(tmp_path, "good.csv", lines)).ok
    assert sorted(Member.objects.values_list("address", flat=True)) == sorted(addresses)

    lines[3] = member_line(number="3", address=f"東京都千代田区{VALID_MY_NUMBER}")
    lines[4] = member_line(
        number="4", address="東京都千代田区 電話123456789012"
    )  # no ID-2 number: stays
    run = run_import(MEMBERS, write_csv(tmp_path, "bad.csv", lines))
    assert not run.ok
    assert run.problems[0].startswith("4行目 [address]: 個人番号と思われる12桁の数字があります")
    assert len(run.problems) == 1
    assert VALID_MY_NUMBER not in run.stderr


@pytest.mark.django_db
def test_a_repeated_bad_value_is_reported_on_every_row(tmp_path, office):
    lines = [
        MEMBER_HEADER,
        member_line(number="1", postal="100-00"),
        member_line(number="2", postal="100-00"),
        member_line(number="3", postal="100-0001"),
        member_line(number="4", postal="100-00"),
        member_line(number="5", sex="3"),
        member_line(number="6", sex="3"),
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "postal.csv", lines))
    assert not run.ok
    assert [problem.split(":")[0] for problem in run.problems] == [
        "2行目 [postal_code]",
        "3行目 [postal_code]",
        "5行目 [postal_code]",
        "6行目 [sex]",
        "7行目 [sex]",
    ]
    assert len({problem.split(": ", 1)[1] for problem in run.problems[:3]}) == 1


@pytest.mark.django_db
def test_the_office_is_set_as_the_descriptor_would_set_it(
    tmp_path, office, django_assert_num_queries
):
    resource = MemberResource()
    resource.fields["symbol"].widget.known = {office.symbol: office}
    rows = [dict(zip(MEMBER_HEADER.split(","), member_line().split(","), strict=True))]
    resource.clean_columns(rows, 0)
    member = resource.init_instance(rows[0])
    with django_assert_num_queries(0):
        resource.import_fields(member, rows[0], row_number=1)
        assert member.office_id == office.symbol and member.office is office
    assert (member.number, member.branch, member.family_name_kana) == ("1", "00", "ヤマダ")
    assert member.birth_date.isoformat() == "1980-05-05" and member.lost_on is None


@pytest.mark.django_db
def test_full_width_and_bad_my_numbers_take_the_careful_way(tmp_path, office):
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in VALID_MY_NUMBER)
    lines = [MEMBER_HEADER, member_line(number="1", my_number=full_width)]
    assert run_import(MEMBERS, write_csv(tmp_path, "wide.csv", lines)).ok
    assert MyNumber.objects.get().last4 == "9018"
    lines = [
        MEMBER_HEADER,
        member_line(number="2", my_number="123456789012"),
        member_line(number="3", my_number="1234-5678-9018"),
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "bad.csv", lines))
    assert [problem.split(": ", 1)[0] for problem in run.problems] == [
        "2行目 [my_number]",
        "3行目 [my_number]",
    ]
    assert "検査用数字" in run.problems[0] and "12桁" in run.problems[1]


@pytest.mark.django_db
def test_the_import_transaction_runs_without_jit_and_parallel_workers(
    tmp_path, office, monkeypatch
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL settings")
    seen = []
    original = MemberResource.write_chunk

    def spy(self, *args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')"
            )
            seen.append(cursor.fetchone())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MemberResource, "write_chunk", spy)
    assert run_import(MEMBERS, write_csv(tmp_path, "one.csv", [MEMBER_HEADER, member_line()])).ok
    assert seen == [("off", "0")]
    with connection.cursor() as cursor:  # SET LOCAL: the import's transaction only
        cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
        assert cursor.fetchone() != ("0",)


@pytest.mark.django_db
def test_a_stored_insured_person_in_the_chunk_is_not_looked_up_again(tmp_path, office, monkeypatch):
    """The insured person of a household whose stored self row the chunk loaded is known
    from it (one self per household); a second self is refused all the same."""
    import members.resources

    spouse = {"branch": "01", "relationship": "spouse", "given": "花子", "sex": "2"}
    first = [MEMBER_HEADER, member_line(), member_line(**spouse), member_line(number="2")]
    assert run_import(MEMBERS, write_csv(tmp_path, "first.csv", first)).ok
    looked_up = []
    original = members.resources.insured_branches

    def spy(households):
        looked_up.append(set(households))
        return original(households)

    monkeypatch.setattr(members.resources, "insured_branches", spy)
    lines = [
        MEMBER_HEADER,
        member_line(address="新住所"),  # the stored self of household 1
        member_line(**spouse, address="新住所"),
        member_line(number="2", branch="01", relationship="child", given="一郎"),  # self stored
    ]
    run = run_import(MEMBERS, write_csv(tmp_path, "second.csv", lines))
    assert run.ok, run.stderr
    assert looked_up == [{("1001", "2")}]
    lines.append(member_line(branch="02", given="次郎", given_kana="ジロウ"))  # a second self
    run = run_import(MEMBERS, write_csv(tmp_path, "third.csv", lines))
    assert run.problems == ["5行目 [relationship]: この記号・番号には本人（self）がすでにいます。"]
