"""A supervisor in the browser: decide applications (and see what they issued), end a
要配慮者 approval, release a batch and take its files, reveal a My Number (logged)."""

import csv
import io
from pathlib import Path

from playwright.sync_api import expect

from certificates.models import Application, Certificate, DownloadLog, IssueBatch, LostCardCase
from insurer.roles import SUPERVISOR
from members.models import MyNumberAccessLog
from tests.scenario import SATO_MY_NUMBER

from .conftest import browser_login


def run_action(page, rows: list[str], action: str) -> None:
    """Tick the rows that contain each text, choose the action, press 実行."""
    for text in rows:
        page.locator("#result_list tbody tr", has_text=text).locator(
            "input[name=_selected_action]"
        ).check()
    page.locator("select[name=action]").select_option(label=action)
    page.get_by_role("button", name="実行").click()


def test_supervisor_approves_applications_and_ends_a_care_needs_approval(page, register):
    case = LostCardCase.objects.create(
        member=register.sato, lost_on=register.today, reported_on=register.today
    )
    Application.objects.create(
        member=register.sato, kind="lost_card", received_on=register.today, lost_card_case=case
    )
    browser_login(page, register.users[SUPERVISOR])
    page.goto("/admin/certificates/application/")
    run_action(page, ["佐藤 花子", "高橋 健"], "承認する（必要なら資格確認書を交付）")
    message = page.locator("ul.messagelist")
    expect(message).to_contain_text("2件を承認し、資格確認書を2件交付しました")
    expect(message).to_contain_text("1001-3-00 佐藤 花子（カード紛失・更新中")
    expect(message).to_contain_text("1001-4-00 高橋 健（要配慮者")
    expect(page.locator("#result_list")).to_contain_text("管理 花子")  # 決裁者, by name
    assert set(
        Certificate.objects.filter(batch__kind="single").values_list("reason", flat=True)
    ) == {
        "lost_card",
        "care_needs",
    }

    # End the 要配慮者 approval after its review: a button only supervisors see.
    page.get_by_role("link", name="高橋 健").first.click()
    page.get_by_role("link", name="要配慮者の承認を終了する").click()
    page.get_by_label("終了の理由").fill("見直しの結果、支援は不要になった")
    page.get_by_role("button", name="承認を終了する").click()
    expect(page.locator("ul.messagelist")).to_contain_text("要配慮者の承認を終了しました")
    register.care_needs.refresh_from_db()
    assert (register.care_needs.status, register.care_needs.ended_on) == ("ended", register.today)
    expect(page.get_by_role("link", name="要配慮者の承認を終了する")).to_have_count(0)
    page.locator("#content").get_by_role("link", name="履歴").click()
    history = page.locator("#change-history")
    expect(history).to_contain_text("承認 → 終了（要配慮者の承認を終えた）")
    expect(history).to_contain_text("決裁者: （なし） → 管理 花子")  # a person, by name
    expect(history).to_contain_text("申請を受付")
    expect(history).not_to_contain_text("Deleted")


def test_supervisor_releases_a_batch_downloads_its_files_and_reveals_a_my_number(
    page, register, tmp_path
):
    browser_login(page, register.users[SUPERVISOR])
    page.goto("/admin/certificates/issuebatch/")
    page.get_by_role("link", name=str(register.batch)).click()
    expect(page.locator("div.field-status")).to_contain_text("PDF作成済（印刷許可待ち）")
    page.get_by_role("button", name="印刷を許可する").click()
    expect(page.locator("ul.messagelist")).to_contain_text("印刷を許可しました")
    expect(page.locator("div.field-status")).to_contain_text("印刷許可済")
    assert IssueBatch.objects.get(pk=register.batch.pk).status == "released"

    with page.expect_download() as pdf:
        page.get_by_role("link", name="資格確認書PDF").click()
    content = Path(pdf.value.path()).read_bytes()
    assert content.startswith(b"%PDF") and len(content) > 5_000
    with page.expect_download() as mailing:
        page.get_by_role("link", name="送付リストCSV").click()
    rows = list(csv.reader(io.StringIO(Path(mailing.value.path()).read_text("utf-8-sig"))))
    assert rows[0][:3] == ["symbol", "office_name", "postal_code"]
    assert {(row[0], row[4], row[5]) for row in rows[1:]} >= {
        ("1001", "2", "00"),
        ("1001", "2", "01"),
    }
    assert list(DownloadLog.objects.values_list("user__username", "kind")) == [
        ("supervisor", "mailing_csv"),
        ("supervisor", "pdf"),
    ]

    # Reveal a My Number with a reason, then find the reveal in the access log.
    page.goto(f"/admin/members/member/{register.sato.pk}/change/")
    expect(page.locator("#my-number-masked")).to_have_text("********" + SATO_MY_NUMBER[-4:])
    expect(page.locator("body")).not_to_contain_text(SATO_MY_NUMBER)
    page.get_by_role("link", name="理由を入力して表示").click()
    page.get_by_label("表示する理由").fill("J-LIS照会結果との照合のため")
    page.get_by_role("button", name="表示する").click()
    expect(page.locator("#revealed-my-number")).to_have_text(SATO_MY_NUMBER)
    assert SATO_MY_NUMBER not in page.url
    page.goto("/admin/members/mynumberaccesslog/")
    log = page.locator("#result_list")
    expect(log).to_contain_text("J-LIS照会結果との照合のため")
    expect(log).to_contain_text("1001-3-00 佐藤 花子")
    assert MyNumberAccessLog.objects.filter(action="reveal").count() == 1
