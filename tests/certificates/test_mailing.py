"""Household mailing (issue 13): one envelope per household, addressed to the insured
person, in the order of 保険者設定; the envelope list and check sheet; returns re-sent
through the employer; the certificate format and the reissue fee. End to end: files
through `import`, `run_nightly` and `issue_certificates`, the PDFs read back as text."""

import csv
import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from certificates.models import Certificate, Envelope, IssueBatch
from certificates.selectors import envelopes_undelivered
from certificates.services import (
    batch_release,
    batch_render,
    certificate_print_single,
    envelope_record_return,
    envelope_resolve,
)
from insurer.models import InsurerSettings
from tests.factories import InsurerFactory, OfficeFactory
from tests.jobs import import_members, import_statuses, issue, member_row, night

D = date
DAY = D(2026, 4, 15)


def pdf_pages(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, like the mailing list
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def person(symbol, number, branch, family, given, **values) -> dict:
    row = {
        "symbol": symbol,
        "number": number,
        "branch": branch,
        "relationship": "self" if branch == "00" else "child",
        "family_name": family,
        "given_name": given,
        "family_name_kana": "テスト",
        "given_name_kana": "タロウ",
        "birth_date": "1985-06-01" if branch == "00" else "2015-06-01",
        "sex": "1",
        "acquired_on": "2020-04-01",
    }
    if branch == "00":
        row["standard_monthly_remuneration"] = "300000"
    row.update(values)
    return member_row(**row)


@pytest.fixture
def register(db, settings, tmp_path):
    """Four households in two offices. 101-1: the insured person uses a マイナ保険証 (and
    gets a 資格情報のお知らせ as a new member); his wife and child get certificates.
    101-2, 101-10 and 102-5: the insured person alone, no card."""
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    InsurerFactory()
    OfficeFactory(symbol="101", name="テスト物産 本社")
    OfficeFactory(symbol="102", name="テスト物産 札幌支店")
    new = {"acquired_on": "2025-01-10"}
    home = {"postal_code": "530-0001", "address": "大阪府大阪市北区梅田1-1"}
    rows = [
        person("101", "1", "00", "佐藤", "一郎", oqs_registered_on="2025-01-12", **new, **home),
        person("101", "1", "01", "佐藤", "花子", relationship="spouse", **new),
        person("101", "1", "02", "佐藤", "次郎", **new),
        person("101", "2", "00", "鈴木", "二郎", postal_code="100-0001", address="東京都千代田区1"),
        person("101", "10", "00", "高橋", "十郎", postal_code="900-0001", address="沖縄県那覇市1"),
        person("102", "5", "00", "田中", "五郎", postal_code="060-0001", address="北海道札幌市1"),
    ]
    import_members(tmp_path, rows)
    import_statuses(tmp_path, [("101", "1", "00", "2026-04-01", "held", "registered", "")])


def issued_batch(day: date) -> IssueBatch:
    night(day)
    issue(day)
    batch = IssueBatch.objects.get(kind="scheduled", issued_on=day)
    return batch_render(batch_id=batch.pk)


def households(rows: list[dict]) -> list[str]:
    return [f"{row['symbol']}-{row['number']}" for row in rows]


def test_one_envelope_per_household_addressed_to_the_insured_person(register):
    batch = issued_batch(DAY)
    assert (batch.certificate_count, batch.notice_count) == (5, 1)

    rows = csv_rows(batch.envelope_csv.read())
    assert list(rows[0]) == [
        "envelope",
        "route",
        "symbol",
        "office_name",
        "number",
        "addressee",
        "postal_code",
        "address",
        "document_count",
        "documents",
        "resent_from",
    ]
    # By office (the default), numbers as numbers: 101-2 before 101-10.
    assert households(rows) == ["101-1", "101-2", "101-10", "102-5"]
    assert [row["envelope"] for row in rows] == ["1", "2", "3", "4"]
    assert {row["route"] for row in rows} == {"office"}
    sato = rows[0]
    # The dependants' certificates go to the insured person, who holds a マイナ保険証.
    assert (sato["addressee"], sato["postal_code"], sato["document_count"]) == (
        "佐藤 一郎",
        "530-0001",
        "3",
    )
    assert sato["documents"] == (
        "101-1-00 佐藤 一郎 資格情報のお知らせ / 101-1-01 佐藤 花子 資格確認書"
        " / 101-1-02 佐藤 次郎 資格確認書"
    )
    assert sato["office_name"] == "テスト物産 本社"
    assert not Certificate.objects.filter(member__branch="00", member__number="1").exists()

    check = "\n".join(pdf_pages(batch.check_pdf.read()))
    assert check.count("封筒番号") == 4
    assert check.index("封筒番号 1") < check.index("封筒番号 2") < check.index("封筒番号 4")
    assert "宛名 佐藤 一郎 様" in check
    assert "101-1-01　佐藤 花子　資格確認書" in check
    assert "101-1-00　佐藤 一郎　資格情報のお知らせ" in check
    assert "テスト物産 札幌支店（記号 102）経由" in check

    # A batch's envelopes hold every document of it exactly once.
    envelopes = Envelope.objects.filter(batch=batch)
    assert sum(e.certificates.count() for e in envelopes) == batch.certificate_count
    assert sum(e.notices.count() for e in envelopes) == batch.notice_count


def test_postal_code_order_mails_direct_and_routes_a_household_without_address_via_office(
    register, tmp_path
):
    InsurerSettings.objects.filter(pk=1).update(mailing_sort="postal_code")
    import_members(
        tmp_path,
        [person("102", "7", "00", "伊藤", "七郎")],  # no address on file
        name="late.csv",
    )
    batch = issued_batch(DAY)
    rows = csv_rows(batch.envelope_csv.read())
    assert [(row["postal_code"], row["route"]) for row in rows] == [
        ("060-0001", "direct"),
        ("100-0001", "direct"),
        ("530-0001", "direct"),
        ("900-0001", "direct"),
        ("", "office"),  # 102-7: no address, through the employer, after the direct mail
    ]
    check = "\n".join(pdf_pages(batch.check_pdf.read()))
    assert "〒060-0001　北海道札幌市1" in check
    # The certificates print in envelope order (not by office) for stuffing.
    certificates = "\n".join(pdf_pages(batch.pdf.read()))
    assert certificates.index("田中 五郎") < certificates.index("鈴木 二郎")


def test_a4_layout_prints_one_certificate_per_page(register, clerk):
    InsurerSettings.objects.filter(pk=1).update(certificate_format="a4")
    batch = issued_batch(DAY)
    pages = pdf_pages(batch.pdf.read())
    assert len(pages) == batch.certificate_count == 5
    for page in pages:
        titles = page.count("健康保険被保険者資格確認書") + page.count("健康保険被扶養者資格確認書")
        assert titles == 2  # the page's heading and the card to cut out: one person
        assert "きりとり線" in page and "点線で切り取って" in page
    assert batch.certificate_format == "a4"
    reprint = certificate_print_single(certificate=batch.certificates.first(), user=clerk)
    assert "きりとり線" in "\n".join(pdf_pages(reprint))  # a single reprint follows the setting
    # Card size is the default: ten to a sheet, a new sheet per office.
    InsurerSettings.objects.filter(pk=1).update(certificate_format="card")
    night(DAY + timedelta(days=1))
    assert len(pdf_pages(batch_render(batch_id=batch.pk).pdf.read())) == 5  # frozen: still A4


def test_reissue_fee_is_printed_on_the_reissues_cover_sheet(register, tmp_path):
    first = issued_batch(DAY)
    assert "再交付手数料" not in "\n".join(pdf_pages(first.cover_pdf.read()))
    settings = InsurerSettings.objects.get(pk=1)
    settings.reissue_fee = 500
    settings._change_reason = "再交付手数料を改定"
    settings.save()
    # 鈴木 二郎 changes his name: RI-1 reissues his certificate in the next batch.
    renamed = person(
        "101", "2", "00", "鈴木", "次郎", postal_code="100-0001", address="東京都千代田区1"
    )
    import_members(tmp_path, [renamed], name="rename.csv")
    batch = issued_batch(DAY + timedelta(days=1))
    assert list(batch.certificates.values_list("reason", flat=True)) == ["reissue"]
    cover = "\n".join(pdf_pages(batch.cover_pdf.read()))
    assert "再交付手数料: 500円（1通につき）" in cover
    assert "資格確認書（再交付）" in cover
    check = "\n".join(pdf_pages(batch.check_pdf.read()))
    assert "再交付手数料: 500円" in check
    assert InsurerSettings.history.filter(reissue_fee=500).get().history_change_reason == (
        "再交付手数料を改定"
    )
    # The default is free of charge, and says so.
    InsurerSettings.objects.filter(pk=1).update(reissue_fee=0)
    renamed["given_name"] = "二郎"
    import_members(tmp_path, [renamed], name="rename-back.csv")
    batch = issued_batch(DAY + timedelta(days=2))
    assert "再交付手数料: 無料" in "\n".join(pdf_pages(batch.cover_pdf.read()))


def test_a_returned_envelope_is_resent_through_the_employer_in_the_next_batch(
    register, supervisor, clerk
):
    InsurerSettings.objects.filter(pk=1).update(mailing_sort="postal_code")
    first = issued_batch(DAY)
    batch_release(batch=first, user=supervisor)
    sato = Envelope.objects.get(batch=first, number="1")
    assert sato.route == "direct"
    certificates_before = set(Certificate.objects.values_list("pk", flat=True))

    envelope_record_return(
        envelope=sato, returned_on=DAY + timedelta(days=3), note="転居先不明", user=clerk
    )
    assert (
        sato.history.first().history_change_reason
        == f"宛先不明で戻った（{DAY + timedelta(days=3)}）"
    )

    later = DAY + timedelta(days=4)
    second = issued_batch(later)
    sato.refresh_from_db()
    resend = sato.resent_in
    assert (sato.status, resend.batch, resend.route) == ("resent", second, "office")
    # The same certificates and notice, reprinted: no new certificate (ONE-1 untouched).
    assert set(Certificate.objects.values_list("pk", flat=True)) == certificates_before
    assert set(resend.certificates.all()) == set(sato.certificates.all())
    assert set(resend.notices.all()) == set(sato.notices.all())
    rows = csv_rows(second.envelope_csv.read())
    assert len(rows) == 1
    assert (rows[0]["route"], rows[0]["addressee"], rows[0]["resent_from"]) == (
        "office",
        "佐藤 一郎",
        f"バッチ{first.pk}-封筒{sato.sequence}",
    )
    assert "佐藤 花子 資格確認書（再送）" in rows[0]["documents"]
    certificates = "\n".join(pdf_pages(second.pdf.read()))
    assert "佐藤 花子" in certificates and "佐藤 次郎" in certificates
    assert "佐藤 一郎" in "\n".join(pdf_pages(second.notices_pdf.read()))
    assert "テスト物産 本社（記号 101）経由" in "\n".join(pdf_pages(second.check_pdf.read()))

    # Sent once: the next batch does not send it again.
    third = issued_batch(later + timedelta(days=1))
    assert not third.envelopes.exists()

    # The worklist: still undelivered 14 days (保険者設定) after it came back.
    assert sato not in envelopes_undelivered(DAY + timedelta(days=16), 14)
    assert sato in envelopes_undelivered(DAY + timedelta(days=17), 14)
    envelope_resolve(
        envelope=resend, resolved_on=DAY + timedelta(days=20), note="事業所で手渡し", user=clerk
    )
    sato.refresh_from_db()
    assert sato.status == "resolved"
    assert not envelopes_undelivered(DAY + timedelta(days=30), 14).exists()


def test_a_return_is_refused_before_the_batch_is_mailed(register, clerk):
    from django.core.exceptions import ValidationError

    batch = issued_batch(DAY)
    envelope = batch.envelopes.first()
    with pytest.raises(ValidationError, match="印刷を許可する前"):
        envelope_record_return(envelope=envelope, returned_on=DAY, note="", user=clerk)
