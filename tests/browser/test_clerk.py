"""A clerk's day, in the browser: find people, edit, issue, reprint, take a lost-card
report and its application, log a call, import a file — and be refused a My Number."""

import re

from playwright.sync_api import expect

from certificates.models import Application, Certificate, CertificatePrintLog, LostCardCase
from inquiries.models import Inquiry
from insurer.roles import CLERK
from members.models import MyNumberAccessLog
from tests.importing import MEMBER_HEADER, member_line

from .conftest import browser_login


def search_members(page, term: str) -> list[str]:
    """Type into the member list's search box; the 記号-番号-枝番 column of the result."""
    page.goto("/admin/members/member/")
    page.locator("#searchbar").fill(term)
    page.get_by_role("button", name="検索").click()
    # The result is a new page: read it only once it has loaded (the list of the page
    # before would otherwise be read, or nothing while it unloads).
    page.wait_for_url(re.compile(r"[?&]q="))
    page.wait_for_load_state()
    return page.locator(
        "#result_list tbody th a, #result_list tbody td.field-key_display a"
    ).all_inner_texts()


def test_clerk_finds_edits_issues_reprints_and_reads_the_history(page, register):
    clerk = register.users[CLERK]
    browser_login(page, clerk)
    # The index starts with the day's worklist, each line a link to its flags.
    expect(page.locator("html")).to_have_attribute("lang", "ja")  # the browser asked for en
    expect(page.locator("#user-tools")).to_contain_text("ようこそ 担当 一郎 さん")
    page.locator("#worklist").get_by_role(
        "link", name="資格確認書が必要（マイナンバーカード未取得）"
    ).click()
    expect(page.locator("#result_list")).to_contain_text("1001-10-00")

    # Search: hiragana, half-width kana, 記号-番号-枝番, a name.
    assert search_members(page, "やまだ") == ["1001-2-00", "1001-2-01"]
    assert search_members(page, "ｽｽﾞｷ") == ["1001-10-00"]
    assert search_members(page, "1001-2-01") == ["1001-2-01"]
    assert search_members(page, "佐藤") == ["1001-3-00"]
    # Unfiltered, numbers sort as numbers: 1001-2 … 1001-4 before 1001-10.
    assert search_members(page, "")[-1] == "1001-10-00"

    # Edit and save a member (the 交付 button's form must not swallow the 保存 button).
    page.get_by_role("link", name="山田 太郎").click()
    page.get_by_label(re.compile(r"^住所:?$")).fill("東京都港区芝5-1-1")
    page.get_by_label("変更理由:").fill("住所変更届による")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("変更しました")
    register.yamada.refresh_from_db()
    assert register.yamada.address == "東京都港区芝5-1-1"

    # Issue a certificate from the member page (鈴木 joined after today's batch).
    assert search_members(page, "1001-10-00") == ["1001-10-00"]
    page.get_by_role("link", name="鈴木 一郎").click()
    expect(page.locator("#myna-state")).to_contain_text("カード未取得")
    page.get_by_role("button", name="資格確認書を今日付けで交付する").click()
    expect(page.locator("ul.messagelist")).to_contain_text("資格確認書を交付しました")
    certificate = Certificate.objects.get(member=register.suzuki)
    assert certificate.reason == "no_card"
    # Its page is read-only: 「…を表示」, no 保存.
    expect(page.locator("#content h1")).to_have_text("資格確認書を表示")
    expect(page.get_by_role("button", name="保存")).to_have_count(0)

    # Reprint it (logged), and check the bytes are a PDF.
    link = page.get_by_role("link", name="この確認書を印刷（記録されます）")
    response = page.context.request.get(link.get_attribute("href"))
    assert response.ok and response.body().startswith(b"%PDF")
    assert CertificatePrintLog.objects.filter(certificate=certificate, user=clerk).count() == 1

    # Read a member's history: who, why, what changed — in Japanese.
    page.goto(f"/admin/members/member/{register.yamada.pk}/change/")
    page.locator("#content").get_by_role("link", name="履歴").click()
    history = page.locator("#change-history")
    expect(history).to_contain_text("担当 一郎")
    expect(history).to_contain_text("住所変更届による")
    expect(history).to_contain_text("住所:")
    expect(history).to_contain_text("東京都港区芝5-1-1")
    expect(history).to_contain_text("システム（夜間処理・取込・発行ジョブ）")
    expect(page.locator("#content")).not_to_contain_text("None")


def test_clerk_takes_a_lost_card_report_its_application_and_a_phone_call(page, register):
    browser_login(page, register.users[CLERK])
    page.goto(f"/admin/members/member/{register.sato.pk}/change/")
    expect(page.locator("#myna-state")).to_have_text("登録済（利用できる）")

    # Report the lost card from the member page.
    page.get_by_role("link", name="カード紛失を受け付ける").click()
    page.get_by_label("紛失日").fill(register.today.isoformat())
    page.get_by_label("マイナンバーカードの一時利用停止を確認").check()
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("追加しました")
    case = LostCardCase.objects.get(member=register.sato)

    # MY-2: with the case open the card is not usable, and the page says so.
    page.goto(f"/admin/members/member/{register.sato.pk}/change/")
    expect(page.locator("#myna-state")).to_contain_text("利用できない（カード紛失の対応中")
    expect(page.locator("#member-lost-cases")).to_contain_text("対応中")

    # From the case to its application: the case is chosen by name, not by a raw id.
    page.locator("#member-lost-cases").get_by_role(
        "link", name=register.today.isoformat()
    ).first.click()
    page.get_by_role("link", name="この紛失の交付申請を入力する").click()
    chosen = page.get_by_label("カード紛失の対応").locator("option:checked")
    expect(chosen).to_contain_text("1001-3-00 佐藤 花子 紛失")
    expect(page.get_by_label("申請の種類")).to_have_value("lost_card")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("追加しました")
    application = Application.objects.get(member=register.sato, kind="lost_card")
    assert (application.lost_card_case, application.status) == (case, "received")

    # Log the phone call that started it, from the member page.
    page.goto(f"/admin/members/member/{register.sato.pk}/change/")
    expect(page.locator("#member-applications")).to_contain_text(
        "カード紛失等による資格確認書交付申請"
    )
    page.get_by_role("link", name="問合せを記録する").click()
    expect(page.get_by_label("経路")).to_have_value("phone")
    page.get_by_label("分類").select_option(label="マイナンバーカードをなくした・盗まれた")
    page.get_by_label("問合せ内容").fill("カードをなくした。病院にかかるにはどうすればよいか。")
    page.get_by_label("回答").fill("一時停止の方法と資格確認書の申請を案内した。")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("追加しました")
    inquiry = Inquiry.objects.get(member=register.sato)
    assert (inquiry.channel, inquiry.handler) == ("phone", register.users[CLERK])
    page.goto(f"/admin/members/member/{register.sato.pk}/change/")
    expect(page.locator("#member-inquiries")).to_contain_text("担当 一郎")

    # A clerk cannot see a My Number: refused in Japanese, nothing logged.
    expect(page.get_by_role("link", name="理由を入力して表示")).to_have_count(0)
    page.goto(f"/admin/members/member/{register.sato.pk}/my-number/")
    expect(page.locator("#content h1")).to_have_text("この操作はできません（権限がありません）")
    expect(page.locator("#denied-reason")).to_contain_text("個人番号を表示できるのは管理者だけです")
    assert not MyNumberAccessLog.objects.filter(action="reveal").exists()


BAD_MEMBERS_CSV = (
    f"{MEMBER_HEADER}\n"
    + member_line(number="50", family_kana="たなか", birth="1980-13-01")
    + "\n"
    + member_line(number="51", family_kana="なかむら", sex="9")
    + "\n"
)


def test_clerk_uploads_a_bad_member_file_and_reads_the_row_errors(page, register):
    browser_login(page, register.users[CLERK])
    page.goto("/admin/members/member/")
    page.get_by_role("link", name="取り込み").click()
    page.get_by_label("取り込むファイル").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": BAD_MEMBERS_CSV.encode()}
    )
    page.get_by_label("ファイル形式").select_option(label="csv")
    page.get_by_role("button", name="確認する（まだ書き込みません）").click()
    expect(page.locator("#import-errors-title")).to_contain_text("取り込めません")
    problems = page.locator("#import-problems tbody tr").all_inner_texts()
    # Line 1 is the header, as the import command counts: the rows are lines 2 and 3.
    assert any(row.startswith("2行目\tbirth_date") for row in problems), problems
    assert any(row.startswith("3行目\tsex") for row in problems), problems
    expect(page.locator("#import-problems")).to_be_visible()  # in place, not on hover
    from members.models import Member

    assert not Member.objects.filter(number__in=["50", "51"]).exists()


def test_clerk_confirms_a_registered_name(page, register):
    """ID-4: a filed name with 髙 waits on the worklist; the clerk confirms the proposed
    registered name from the member page, and a name still outside JIS X 0208 is refused."""
    from insurer.services import nightly_run
    from members.models import Flag
    from members.services import member_save
    from tests.factories import MemberFactory

    member = MemberFactory(
        office=register.yamada.office,
        number="77",
        family_name="髙橋",
        given_name="一郎",
        family_name_kana="タカハシ",
        given_name_kana="イチロウ",
    )
    member_save(member=member, user=None, reason="資格取得届")
    nightly_run(run_date=register.today, trigger="test", force=True)
    assert Flag.objects.filter(member=member, kind="name_unregistrable", closed_on=None).exists()

    browser_login(page, register.users[CLERK])
    page.goto(f"/admin/members/member/{member.pk}/change/")
    expect(page.locator("#registered-name")).to_contain_text("未確定")
    page.get_by_role("link", name="登録用氏名を確定する").click()
    expect(page.locator("#bad-characters")).to_have_text("髙")
    family = page.get_by_label("登録用氏名（氏）")
    expect(family).to_have_value("高橋")  # from the insurer's substitution table
    expect(page.get_by_label("登録用氏名（名）")).to_have_value("一郎")
    family.fill("髙橋")  # still outside JIS X 0208: refused, nothing saved
    page.get_by_role("button", name="この氏名で確定する").click()
    expect(page.locator(".errorlist")).to_contain_text("使えない文字（髙）")
    member.refresh_from_db()
    assert member.registered_family_name == ""
    page.get_by_label("登録用氏名（氏）").fill("高橋")
    page.get_by_role("button", name="この氏名で確定する").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        "登録用氏名を「高橋 一郎」に確定しました"
    )
    expect(page.locator("#registered-name")).to_contain_text("確定済み")
    member.refresh_from_db()
    assert (member.family_name, member.registered_family_name) == ("髙橋", "高橋")
    nightly_run(run_date=register.today, trigger="test", force=True)
    assert not Flag.objects.filter(
        member=member, kind="name_unregistrable", closed_on=None
    ).exists()
