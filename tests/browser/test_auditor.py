"""An auditor reads everything and changes nothing; refusals are in Japanese."""

from playwright.sync_api import expect

from inquiries.models import Category, Inquiry
from inquiries.services import inquiry_log
from insurer.roles import AUDITOR, CLERK

from .conftest import browser_login


def test_auditor_reads_history_and_is_refused_in_japanese(page, register):
    clerk = register.users[CLERK]
    inquiry_log(  # a 紐付け誤り call opens an incident nobody has reviewed yet
        inquiry=Inquiry(
            member=register.sato,
            category=Category.objects.get(opens_incident=True),
            question="薬局で別の人の氏名が表示された",
            handler=clerk,
        ),
        user=clerk,
    )
    browser_login(page, register.users[AUDITOR])
    expect(page.locator("#dashboard")).to_be_visible()
    banner = page.locator("#unreviewed-incidents")
    expect(banner).to_contain_text("【至急】")
    line = page.locator("#content h1").bounding_box()["height"]
    assert banner.bounding_box()["height"] < 2.5 * line  # one line, not a grid of four

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
