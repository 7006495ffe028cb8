"""The five faults found by running the jobs night after night (issue: months of nights),
each reproduced the way the operator met it: files through `import`, then `run_nightly`
and `issue_certificates` for the dates, and the exports read back."""

from datetime import date

import pytest

from members.models import Member
from tests.factories import InsurerFactory, OfficeFactory
from tests.jobs import (
    certificates,
    import_members,
    import_statuses,
    issue,
    member_row,
    night,
    open_flags,
)

D = date
KEY = ("101", "1", "00")


@pytest.fixture
def register(db):
    InsurerFactory()
    OfficeFactory(symbol="101", name="テスト物産 本社")


def insured(**values) -> dict:
    row = {
        "symbol": "101",
        "number": "1",
        "branch": "00",
        "relationship": "self",
        "family_name": "佐藤",
        "given_name": "一郎",
        "family_name_kana": "サトウ",
        "given_name_kana": "イチロウ",
        "birth_date": "1957-01-15",
        "sex": "1",
        "acquired_on": "2000-04-01",
        "standard_monthly_remuneration": "300000",
    }
    row.update(values)
    return row


def periods(status: str = "issued") -> list[tuple[str, str, str]]:
    return [
        (row["valid_from"], row["valid_until"], row["reason"])
        for row in certificates()
        if row["status"] == status
    ]


def certificate_and_renewal(tmp_path) -> None:
    """101-1-00, born 1957-01-15: a certificate to the day before elderly status (VAL-c),
    then its renewal to the day before 75 (VAL-b)."""

    import_members(tmp_path, [member_row(**insured())])
    night(D(2026, 12, 1))
    issue(D(2026, 12, 1))
    night(D(2026, 12, 2))
    issue(D(2026, 12, 2))
    assert periods() == [
        ("2026-12-01", "2027-01-31", "no_card"),
        ("2027-02-01", "2032-01-14", "no_card"),
    ]


def test_a_usable_card_with_a_renewal_issued_opens_one_return_flag(register, tmp_path):
    certificate_and_renewal(tmp_path)
    import_statuses(tmp_path, [("101", "1", "00", "2026-11-30", "held", "registered", "")])
    night(D(2026, 12, 5))  # died with IntegrityError flag_one_open_per_kind
    assert open_flags() == {(*KEY, "return_requested", "")}
    night(D(2026, 12, 5), force=True)
    assert open_flags() == {(*KEY, "return_requested", "")}


def test_a_loss_with_a_renewal_issued_opens_one_return_flag(register, tmp_path):

    certificate_and_renewal(tmp_path)
    import_members(tmp_path, [member_row(**insured(lost_on="2026-12-06", loss_reason="retired"))])
    night(D(2026, 12, 5))
    assert open_flags() == set()
    night(D(2026, 12, 6))
    assert open_flags() == {(*KEY, "return_requested", "")}
    night(D(2026, 12, 7))
    assert open_flags() == {(*KEY, "return_requested", "")}


def test_a_reissue_replaces_the_certificate_in_effect_while_a_renewal_is_issued(register, tmp_path):

    certificate_and_renewal(tmp_path)
    import_members(tmp_path, [member_row(**insured(family_name="鈴木", family_name_kana="スズキ"))])
    night(D(2026, 12, 10))
    assert open_flags() == {(*KEY, "reissue_needed", "")}
    issue(D(2026, 12, 10))
    assert open_flags() == set()
    assert periods() == [
        ("2026-12-10", "2027-01-31", "reissue"),
        ("2027-02-01", "2032-01-14", "no_card"),
    ]
    assert periods("superseded") == [("2026-12-01", "2027-01-31", "no_card")]
    printed = {row["valid_from"]: row["family_name"] for row in certificates()}
    assert printed["2026-12-10"] == "鈴木" and printed["2027-02-01"] == "佐藤"
    # The renewal prints the old name: judged by RI-1 on the day it comes into effect.
    night(D(2027, 1, 31))
    assert open_flags() == {(*KEY, "turning_70", "")}
    night(D(2027, 2, 1))
    assert open_flags() == {(*KEY, "reissue_needed", "")}
    issue(D(2027, 2, 1))
    assert periods() == [("2027-02-01", "2032-01-14", "reissue")]


def test_no_reissue_for_someone_who_has_lost_membership(register, tmp_path):

    row = insured(birth_date="1955-06-10")  # elderly since 2025-07-01, prints 3割
    import_members(tmp_path, [member_row(**row)])
    night(D(2026, 12, 1))
    issue(D(2026, 12, 1))
    assert [c["copay"] for c in certificates()] == ["3"]
    change = {**row, "standard_monthly_remuneration": "200000"}  # 2割 from now on ...
    change.update(lost_on="2026-12-05", loss_reason="retired")  # ... but no longer a member
    import_members(tmp_path, [member_row(**change)])
    night(D(2026, 12, 8))
    assert open_flags() == {(*KEY, "return_requested", "")}
    issue(D(2026, 12, 8))
    assert len(certificates()) == 1


def test_dependents_follow_only_a_loss_at_75(register, tmp_path):

    husband = insured(
        birth_date="1951-12-08", lost_on="2026-06-01", loss_reason="retired"
    )  # retired in June, 75 on 2026-12-08
    wife = {
        **insured(birth_date="1955-03-03", branch="01", relationship="spouse"),
        "given_name": "花子",
        "given_name_kana": "ハナコ",
        "sex": "2",
        "standard_monthly_remuneration": "",
    }
    import_members(tmp_path, [member_row(**husband), member_row(**wife)])
    for day in (D(2026, 12, 8), D(2027, 1, 5)):
        night(day)
    people = {m.branch: m for m in Member.objects.all()}
    assert (people["00"].lost_on, people["00"].loss_reason) == (D(2026, 6, 1), "retired")
    assert (people["01"].lost_on, people["01"].loss_reason) == (None, "")


@pytest.mark.parametrize("night_of", [D(2026, 7, 10), D(2026, 10, 5), D(2027, 3, 1)])
def test_a_later_filed_loss_is_corrected_whichever_night_runs(register, tmp_path, night_of):

    husband = insured(birth_date="1951-07-08", lost_on="2026-09-30", loss_reason="retired")
    wife = {
        **insured(birth_date="1955-03-03", branch="01", relationship="spouse"),
        "given_name": "花子",
        "given_name_kana": "ハナコ",
        "sex": "2",
        "standard_monthly_remuneration": "",
        "lost_on": "2026-09-30",
        "loss_reason": "insured_lost",
    }
    import_members(tmp_path, [member_row(**husband), member_row(**wife)])
    night(night_of)
    people = {m.branch: m for m in Member.objects.all()}
    assert (people["00"].lost_on, people["00"].loss_reason) == (D(2026, 7, 8), "late_elderly")
    assert (people["01"].lost_on, people["01"].loss_reason) == (D(2026, 7, 8), "insured_lost")
    reason = people["00"].history.first().history_change_reason
    assert reason == "届出の資格喪失日（2026-09-30）を75歳到達による喪失日に訂正"
    night(night_of, force=True)
    assert Member.history.count() == 4  # imported twice, corrected once each; no more


def test_certificates_print_the_registered_name(register, tmp_path):
    # ID-4: the filed 髙橋 stays in the register; the certificate prints the registered 高橋,
    # for the member and as a dependant's 被保険者氏名; a new registered name is a reissue.
    husband = insured(family_name="髙橋", family_name_kana="タカハシ", birth_date="1980-05-05")
    wife = {**husband, "branch": "01", "relationship": "spouse", "given_name": "花子"}
    wife.update(given_name_kana="ハナコ", sex="2", standard_monthly_remuneration="")
    husband["registered_family_name"] = "高橋"
    import_members(tmp_path, [member_row(**husband), member_row(**wife)])
    night(D(2026, 12, 1))
    issue(D(2026, 12, 1))
    assert {row["branch"]: row["family_name"] for row in certificates()} == {
        "00": "高橋",
        "01": "髙橋",
    }
    from certificates.models import Certificate

    assert Certificate.objects.get(member__branch="01").insured_name == "高橋 一郎"
    assert Member.objects.get(branch="00").family_name == "髙橋"
    wife["registered_family_name"] = "高橋"
    import_members(tmp_path, [member_row(**wife)], name="again.csv")
    night(D(2026, 12, 2))
    assert open_flags() == {("101", "1", "01", "reissue_needed", "")}


def test_a_filed_name_outside_jis_x_0208_waits_for_its_registered_name(register, tmp_path):
    # ID-4 through the files and the worklist: 髙橋 is filed → name_unregistrable; a
    # registered name that is itself outside JIS X 0208 is refused; a good one closes it;
    # a later change of the filed name makes the old registered name lapse.
    from members.selectors import registered_name_proposal_for
    from members.services import member_confirm_registered_name
    from tests.importing import run_import, write_csv
    from tests.jobs import MEMBER_COLUMNS, MEMBERS

    row = insured(family_name="髙橋", family_name_kana="タカハシ", birth_date="1980-05-05")
    import_members(tmp_path, [member_row(**row)])
    night(D(2026, 12, 1))
    assert (*KEY, "name_unregistrable", "") in open_flags()
    member = Member.objects.get()
    assert member.has_unregistrable_name
    assert registered_name_proposal_for(member=member, substitutions_text="髙=高") == (
        "高橋",
        "一郎",
    )
    bad = member_row(**row, registered_family_name="髙橋")
    lines = [",".join(MEMBER_COLUMNS), ",".join(bad[c] for c in MEMBER_COLUMNS)]
    refused = run_import(MEMBERS, write_csv(tmp_path, "bad.csv", lines))
    assert not refused.ok
    assert refused.problems == [
        "2行目 [registered_family_name]: 登録用氏名（氏）にオンライン資格確認で使えない文字（髙）"
        "があります。JIS第1・第2水準の文字で入力してください。"
    ]
    member_confirm_registered_name(member=member, family_name="高橋", given_name="", user=None)
    night(D(2026, 12, 2))
    assert (*KEY, "name_unregistrable", "") not in open_flags()
    assert member.history.first().history_change_reason == "登録用氏名を確認"
    import_members(tmp_path, [member_row(**{**row, "family_name": "髙木"})], name="renamed.csv")
    member.refresh_from_db()
    assert (member.registered_family_name, member.has_unregistrable_name) == ("", True)
    night(D(2026, 12, 3))
    assert (*KEY, "name_unregistrable", "") in open_flags()


def test_import_date_bounds_follow_the_processing_day(register, tmp_path):
    # A file dated for another day (`import --date`) is judged against that day: a child
    # born on 2027-05-02 is refused today and accepted in a file processed on 2027-05-10.
    from tests.importing import run_import, write_csv
    from tests.jobs import MEMBER_COLUMNS, MEMBERS

    child = member_row(**insured(birth_date="2027-05-02", acquired_on="2027-05-02"))
    lines = [",".join(MEMBER_COLUMNS), ",".join(child[c] for c in MEMBER_COLUMNS)]
    path = write_csv(tmp_path, "newborn.csv", lines)
    refused = run_import(MEMBERS, path)
    assert not refused.ok and "2行目 [birth_date]" in refused.problems[0]
    assert not Member.objects.exists()
    assert run_import(MEMBERS, path, day=D(2027, 5, 10)).ok
    assert Member.objects.get().birth_date == D(2027, 5, 2)
    late = run_import(MEMBERS, path, day=D(2027, 5, 1))
    assert not late.ok
    assert "処理日（2027-05-01）" in late.problems[0]


def test_the_pdf_prints_the_registered_name(register, tmp_path, settings):
    # ID-4 on paper: the batch PDF (read back with a text extractor) prints the registered
    # 高橋 for both, and as the dependant's 被保険者氏名, never the filed 髙橋.
    import io

    from pypdf import PdfReader

    from certificates.models import Certificate
    from certificates.pdf import render_certificates

    husband = insured(family_name="髙橋", family_name_kana="タカハシ", birth_date="1980-05-05")
    husband["registered_family_name"] = "高橋"  # and the wife's, copied from his row
    wife = {**husband, "branch": "01", "relationship": "spouse", "given_name": "花子"}
    wife.update(given_name_kana="ハナコ", sex="2", standard_monthly_remuneration="")
    import_members(tmp_path, [member_row(**husband), member_row(**wife)])
    night(D(2026, 12, 1))
    issue(D(2026, 12, 1))
    pdf = render_certificates(list(Certificate.objects.order_by("branch")), title="t")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert text.count("高橋 一郎") >= 2  # the insured person, and the wife's 被保険者氏名
    assert "高橋 花子" in text
    assert "髙" not in text
    assert Member.objects.filter(family_name="髙橋").count() == 2  # the register keeps it
