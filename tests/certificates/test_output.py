"""PDFs, the mailing list, the export, and ONE-1 in the database itself."""

import io
import os
from datetime import date

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from pypdf import PdfReader

from certificates.models import Certificate, CertificatePrintLog, IssueBatch
from certificates.pdf import render_certificates
from certificates.resources import CERTIFICATE_COLUMNS, CertificateResource
from certificates.services import (
    batch_release,
    batch_render,
    certificate_issue,
    certificate_print_single,
)
from insurer.services import nightly_run
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory

D = date
needs_postgresql = pytest.mark.skipif(
    not os.environ.get("REQUIRE_SERVICES")
    and "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="an exclusion constraint is PostgreSQL's (always present under .ci/run)",
)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def household(db, office, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path
    InsurerFactory()
    insured = MemberFactory(
        office=office,
        number="12",
        birth_date=D(1955, 5, 20),
        standard_monthly_remuneration=300_000,
        family_name="山田",
        given_name="太郎",
        family_name_kana="ヤマダ",
        given_name_kana="タロウ",
    )
    wife = MemberFactory.dependent_of(insured, birth_date=D(1958, 2, 28), acquired_on=D(2021, 6, 1))
    for person in (insured, wife):
        MynaStatusFactory(member=person, card="none", registration="unregistered")
    return insured, wife


@pytest.mark.django_db
def test_batch_pdf_prints_names_era_dates_and_cost_share(household, supervisor):
    from certificates.issuing import certificates_issue_run

    nightly_run(run_date=D(2026, 4, 15), trigger="test")
    run = certificates_issue_run(
        run_date=D(2026, 4, 15), trigger="test"
    )  # renders on commit (eager)
    batch = IssueBatch.objects.get(pk=run.counts["batch"])
    batch = batch_render(batch_id=batch.pk)
    assert (batch.status, batch.progress, batch.certificate_count) == ("rendered", 100, 2)
    text = pdf_text(batch.pdf.read())
    assert "健康保険被保険者資格確認書" in text and "健康保険被扶養者資格確認書" in text
    assert "山田 太郎" in text and "山田 花子" in text
    assert "ヤマダ タロウ" in text
    assert "昭和30年5月20日" in text  # birth date in the era
    assert "令和8年4月15日" in text  # 交付年月日
    assert "令和12年5月19日" in text  # 有効期限: the day before the 75th birthday
    assert "一部負担金の割合" in text and "3割" in text  # insured person: 300,000 yen
    assert "被保険者氏名" in text and "認定年月日" in text
    assert "令和3年6月1日" in text  # the wife's 認定年月日
    assert "06130090" in text
    cover = pdf_text(batch.cover_pdf.read())
    assert "送付書" in cover and "株式会社サンプル 本社" in cover and "1001-12-00" in cover
    mailing = batch.mailing_csv.read().decode("utf-8-sig").splitlines()
    assert mailing[0].startswith(
        "symbol,office_name,postal_code,address,number,branch,name,document,valid_until"
    )
    assert any("山田 太郎,資格確認書,2030-05-19" in line for line in mailing)
    batch_release(batch=batch, user=supervisor)
    assert IssueBatch.objects.get(pk=batch.pk).status == "released"


@pytest.mark.django_db
def test_the_font_is_embedded(household):
    certificate = certificate_issue(member=household[0], reason="no_card", issued_on=D(2026, 4, 15))
    reader = PdfReader(io.BytesIO(render_certificates([certificate], title="t")))
    fonts = [font.get_object() for font in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts and all("IPAexGothic" in str(font["/BaseFont"]) for font in fonts)
    assert all("/FontFile2" in font["/FontDescriptor"].get_object() for font in fonts)  # embedded


@pytest.mark.django_db
def test_single_reprint_is_logged(household, clerk, auditor):
    from django.core.exceptions import PermissionDenied

    certificate = certificate_issue(member=household[0], reason="no_card", issued_on=D(2026, 4, 15))
    content = certificate_print_single(certificate=certificate, user=clerk)
    assert "山田 太郎" in pdf_text(content)
    assert CertificatePrintLog.objects.get().user == clerk
    with pytest.raises(PermissionDenied):
        certificate_print_single(certificate=certificate, user=auditor)


@pytest.mark.django_db
def test_certificate_export_columns(household, capsysbinary):
    from django.core.management import call_command

    certificate_issue(member=household[0], reason="no_card", issued_on=D(2026, 4, 15))
    dataset = CertificateResource().export()
    assert dataset.headers == list(CERTIFICATE_COLUMNS)
    assert list(dataset[0]) == [
        "1001",
        "12",
        "00",
        "self",
        "山田",
        "太郎",
        "1955-05-20",
        "1",
        "06130090",
        "2020-04-01",
        "2026-04-15",
        "2026-04-15",
        "2030-05-19",
        "3",
        "no_card",
        "issued",
    ]
    call_command("export", "CSV", "certificates.resources.CertificateResource")
    assert capsysbinary.readouterr().out.decode().splitlines()[0] == ",".join(CERTIFICATE_COLUMNS)


@needs_postgresql
@pytest.mark.django_db
def test_postgresql_rejects_an_overlapping_certificate_written_around_the_service(household):
    first = certificate_issue(member=household[0], reason="no_card", issued_on=D(2026, 4, 15))
    overlapping = Certificate(
        **{
            field.attname: getattr(first, field.attname)
            for field in Certificate._meta.concrete_fields
            if not field.primary_key
        }
    )
    overlapping.supersedes_id = overlapping.renews_id = None
    overlapping.valid_from = D(2028, 1, 1)
    overlapping.valid_until = D(2032, 1, 1)
    assert connection.vendor == "postgresql"
    with (
        pytest.raises(IntegrityError, match="certificate_one_live_per_period"),
        transaction.atomic(),
    ):
        overlapping.save()
    overlapping.status = "voided"  # a dead certificate does not count
    overlapping.save()
    first.status = "superseded"
    first.save()
    reissue = Certificate.objects.get(pk=overlapping.pk)
    reissue.status = "issued"
    reissue.save()  # once the old one is superseded, a live one may take its period
