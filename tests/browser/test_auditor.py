"""An auditor reads everything and changes nothing; refusals are in Japanese."""

from playwright.sync_api import expect

from insurer.roles import AUDITOR

from .conftest import browser_login


def test_auditor_reads_history_and_is_refused_in_japanese(page, register):
    browser_login(page, register.users[AUDITOR])
    expect(page.locator("#dashboard")).to_be_visible()

    page.goto(f"/admin/members/member/{register.yamada.pk}/change/")
    expect(page.locator("#content h1")).to_have_text("加入者を表示")
    expect(page.get_by_role("button", name="保存")).to_have_count(0)
    expect(page.get_by_role("button", name="資格確認書を今日付けで交付する")).to_have_count(0)
    expect(page.locator("#member-certificates")).to_contain_text("マイナンバーカード未取得")
    expect(page.locator("#member-inquiries")).to_contain_text("担当 一郎")
    page.locator("#content").get_by_role("link", name="履歴").click()
    expect(page.locator("#change-history")).to_contain_text("登録")

    for url in (
        f"/admin/members/member/{register.sato.pk}/my-number/",
        f"/admin/certificates/issuebatch/{register.batch.pk}/download/pdf/",
        "/admin/members/member/add/",
    ):
        response = page.goto(url)
        assert response.status == 403, url
        expect(page.locator("#content h1")).to_have_text("この操作はできません（権限がありません）")
        expect(page.locator("html")).to_have_attribute("lang", "ja")
