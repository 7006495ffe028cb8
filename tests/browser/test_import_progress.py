"""A clerk imports a member file in the browser: preview, confirm, then the progress page
of the background run (取込中…), which refreshes itself until it shows the outcome."""

from playwright.sync_api import expect

import insurer.admin_imports
import insurer.imports.set_based
from insurer.imports.runs import import_run_execute
from insurer.roles import CLERK
from members.demo import demo_my_number
from members.models import Member
from tests.importing import MEMBER_HEADER, member_line, run_import, write_csv
from tests.jobs import MEMBERS

from .conftest import browser_login

GOOD = "\r\n".join(
    [
        MEMBER_HEADER,
        member_line(number="60", my_number="983205673214"),
        member_line(number="60", branch="01", relationship="child", given="花子", sex="2"),
        member_line(number="61"),
    ]
)


def upload_and_confirm(page, content: str) -> None:
    page.goto("/admin/members/member/")
    page.get_by_role("link", name="取り込み").click()
    page.get_by_label("取り込むファイル").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": content.encode()}
    )
    page.get_by_label("ファイル形式").select_option(label="csv")
    page.get_by_role("button", name="確認する（まだ書き込みません）").click()
    page.get_by_role("button", name="取り込みを実行する").click()


def test_clerk_confirms_an_import_and_follows_its_progress_to_the_result(
    page, register, monkeypatch
):
    queued: list[int] = []  # the worker has not started yet
    monkeypatch.setattr(insurer.admin_imports.import_file, "delay", queued.append)
    browser_login(page, register.users[CLERK])
    upload_and_confirm(page, GOOD)
    page.wait_for_url("**/admin/members/member/import/run/*/")
    expect(page.locator(".import-progress")).to_have_text("取込中… ファイルを確認しています。")
    assert not Member.objects.filter(number__in=["60", "61"]).exists()

    import_run_execute(run_id=queued[0])  # the worker runs it; the page refreshes itself
    expect(page.locator("ul.messagelist")).to_contain_text(
        "加入者を取り込みました: 新規 3件、更新 0件、変更なし 0件。"
    )
    assert "983205673214" not in page.content()
    assert Member.objects.filter(number__in=["60", "61"]).count() == 3


def test_clerk_sees_a_failed_run_in_japanese(page, register, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(insurer.admin_imports.import_file, "delay", queued.append)
    browser_login(page, register.users[CLERK])
    upload_and_confirm(page, GOOD)
    page.wait_for_url("**/admin/members/member/import/run/*/")
    # Between the confirmation and the run, someone registers household 61's insured
    # person under another branch: the file's insured row for 61 is now a second one.
    from tests.factories import MemberFactory

    MemberFactory(office=register.yamada.office, number="61", branch="01", relationship="self")
    import_run_execute(run_id=queued[0])
    expect(page.locator("ul.messagelist")).to_contain_text("取り込めませんでした")
    expect(page.locator(".import-problems")).to_contain_text("4行目 [relationship]")
    assert not Member.objects.filter(number="60").exists()  # nothing of the file written


NEW_NUMBER = demo_my_number(12_345)


def test_clerk_previews_a_file_every_row_checked_the_first_rows_listed(
    page, register, monkeypatch, tmp_path
):
    """The preview checks the whole file set-based and lists its first rows: each row's
    処理 (新規 / 更新 / 変更なし), an update's changed cells in bold, no My Number."""
    assert run_import(MEMBERS, write_csv(tmp_path, "members.csv", GOOD.split("\r\n"))).ok
    monkeypatch.setattr(insurer.imports.set_based, "PREVIEW_ROWS", 2)
    browser_login(page, register.users[CLERK])
    page.goto("/admin/members/member/")
    page.get_by_role("link", name="取り込み").click()
    changed = "\r\n".join(
        [
            MEMBER_HEADER,
            member_line(number="61", address="東京都港区芝公園4-2-8"),
            member_line(number="60", branch="01", relationship="child", given="花子", sex="2"),
            member_line(number="62", my_number=NEW_NUMBER),
        ]
    )
    page.get_by_label("取り込むファイル").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": changed.encode()}
    )
    page.get_by_label("ファイル形式").select_option(label="csv")
    page.get_by_role("button", name="確認する（まだ書き込みません）").click()

    expect(page.locator("#import-totals")).to_contain_text(
        "全 3 行: 新規 1件、更新 1件、変更なし 1件。"
    )
    expect(page.locator("#import-totals")).to_contain_text("先頭の 2 行を表示しています")
    rows = page.locator("table.import-preview tbody tr, table.import-preview > tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("2行目")
    expect(rows.nth(0).locator(".import-type")).to_have_text("更新")
    expect(rows.nth(0).locator("strong.changed")).to_have_text("東京都港区芝公園4-2-8")
    expect(rows.nth(1).locator(".import-type")).to_have_text("変更なし（飛ばす）")
    assert NEW_NUMBER not in page.content()
    assert not Member.objects.filter(number="62").exists()  # a preview writes nothing

    page.get_by_role("button", name="取り込みを実行する").click()  # in the request: no broker
    expect(page.locator("ul.messagelist")).to_contain_text(
        "加入者を取り込みました: 新規 1件、更新 1件、変更なし 1件。"
    )
