"""The batch page while the batch renders in parts (issue 11): a clerk sees the parts
and the progress move without reloading the page; the page reloads itself once, when the
batch is rendered."""

from playwright.sync_api import expect

from certificates.rendering import batch_part_render, batch_render
from insurer.roles import SUPERVISOR
from tests.certificates.render_register import issue_batch, multi_office_register
from tests.conftest import make_user
from tests.scenario import PASSWORD

from .conftest import browser_login

OFFICES = {"1001": 3, "1002": 5, "1003": 1, "1004": 2}  # 15 certificates, 4 parts of ≤ 4


def test_the_batch_page_shows_the_parts_move_without_a_reload(
    page, transactional_db, live_server, settings, tmp_path, monkeypatch
):
    settings.PRIVATE_FILES_ROOT = tmp_path
    settings.RENDER_PART_SIZE = 4
    multi_office_register(OFFICES)
    batch = issue_batch(monkeypatch)
    handed_out = []  # the parts, as the workers would receive them
    batch_render(batch_id=batch.pk, dispatch=handed_out.extend)
    supervisor = make_user(SUPERVISOR)
    supervisor.set_password(PASSWORD)
    supervisor.save()

    browser_login(page, supervisor)
    page.goto(f"/admin/certificates/issuebatch/{batch.pk}/change/")
    text = page.locator("#render-progress-text")
    expect(text).to_contain_text("PDFを作成中です（0%）。完了した部分 0/4")
    expect(page.locator("#batch-parts")).to_contain_text("待機中")
    expect(page.get_by_role("link", name="更新")).to_be_visible()
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    batch_part_render(part_id=handed_out[0])  # a worker finished the first part
    expect(text).to_contain_text("完了した部分 1/4、作成済の資格確認書 4/15枚")
    expect(page.locator("#part-1 .part-status")).to_have_text("作成済")
    expect(page.locator("#part-1 .part-count")).to_have_text("4/4")
    expect(page.locator("#part-2 .part-status")).to_have_text("待機中")
    batch_part_render(part_id=handed_out[1])
    expect(text).to_contain_text("完了した部分 2/4、作成済の資格確認書 8/15枚")
    assert page.evaluate("window.sameDocument") is True  # moved without a reload

    for part_id in handed_out[2:]:
        batch_part_render(part_id=part_id)
    expect(page.locator("div.field-status")).to_contain_text("PDF作成済（印刷許可待ち）")
    expect(page.locator("#batch-parts")).to_contain_text("第4部")
    expect(page.locator("#batch-parts").get_by_role("link", name="資格確認書PDF")).to_have_count(4)
    expect(page.get_by_role("button", name="印刷を許可する")).to_be_visible()
