"""A clerk in the browser records an envelope that came back undeliverable; the next
scheduled batch re-sends its documents through the employer, and the envelope shows on
the undelivered list (issue 13)."""

import csv
import io
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from certificates.issuing import certificates_issue_run
from certificates.models import Envelope, IssueBatch
from certificates.services import batch_release
from insurer.models import InsurerSettings
from insurer.roles import CLERK, SUPERVISOR

from .conftest import browser_login


@pytest.fixture
def direct_mail(transactional_db):
    """保険者設定 before the register's batch is made: direct mail in postal-code order,
    and a returned envelope counts as undelivered after one day."""
    InsurerSettings.objects.update_or_create(
        pk=1, defaults={"mailing_sort": "postal_code", "undelivered_after_days": 1}
    )


def test_clerk_records_an_undeliverable_envelope_and_sees_it_resent(direct_mail, page, register):
    yesterday = register.today - timedelta(days=1)
    batch_release(batch=register.batch, user=register.users[SUPERVISOR])  # mailed
    envelope = Envelope.objects.get(batch=register.batch, number="2")
    assert (envelope.route, envelope.addressee) == ("direct", "山田 太郎")
    assert set(envelope.certificates.values_list("member__branch", flat=True)) == {"00", "01"}

    browser_login(page, register.users[CLERK])
    page.goto("/admin/certificates/envelope/")
    page.get_by_role("link", name=str(envelope)).click()
    expect(page.locator("div.field-contents")).to_contain_text("1001-2-01 山田 花子 資格確認書")
    page.get_by_role("link", name="宛先不明で戻った").click()
    page.get_by_label("戻った日").fill(yesterday.isoformat())
    page.get_by_label("メモ（戻った理由など）").fill("あて所に尋ねあたりません")
    page.get_by_role("button", name="記録する").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        "次の定期発行で、同じ書類を事業所経由で再送します"
    )
    expect(page.locator("div.field-status")).to_contain_text("宛先不明で返送（再送待ち）")
    expect(page.get_by_role("link", name="宛先不明で戻った")).to_have_count(0)

    # Tonight's scheduled batch (the nightly run of today is done) re-sends it.
    run = certificates_issue_run(run_date=register.today, trigger="test")
    assert run.status == "succeeded" and run.counts["resent"] == 1
    batch = IssueBatch.objects.get(pk=run.counts["batch"])
    assert batch.status == "rendered"  # rendered in-process after the commit

    # The worklist on the index: one envelope undelivered for a day or more.
    page.goto("/admin/")
    undelivered = page.locator("#worklist-undelivered")
    expect(undelivered).to_contain_text("戻った封筒の未達（1日以上）")
    expect(undelivered).to_contain_text("1 件")
    undelivered.get_by_role("link").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("事業所経由で再送")
    rows.get_by_role("link", name=str(envelope)).click()
    expect(page.locator("div.field-return_note")).to_contain_text("あて所に尋ねあたりません")
    page.locator("div.field-resent_in_link").get_by_role("link").click()
    expect(page.locator("div.field-route")).to_contain_text("事業所経由")
    expect(page.locator("div.field-contents")).to_contain_text(
        "1001-2-00 山田 太郎 資格確認書（再送）"
    )
    expect(page.locator("div.field-contents")).to_contain_text(
        "1001-2-01 山田 花子 資格確認書（再送）"
    )

    # The next batch's envelope list says what it re-sends.
    resend = Envelope.objects.get(batch=batch, number="2")
    rows = list(csv.DictReader(io.StringIO(batch.envelope_csv.read().decode("utf-8-sig"))))
    (row,) = [row for row in rows if row["number"] == "2"]
    assert (row["route"], row["addressee"], row["document_count"]) == ("office", "山田 太郎", "2")
    assert row["resent_from"] == f"バッチ{register.batch.pk}-封筒{envelope.sequence}"
    assert set(resend.certificates.all()) == set(envelope.certificates.all())  # not new ones
