from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import (
    Application,
    Certificate,
    CertificatePrintLog,
    IssueBatch,
    LostCardCase,
)
from certificates.services import batch_render, certificate_issue
from insurer.roles import AUDITOR, CLERK, SUPERVISOR
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory

OK = {CLERK: 200, SUPERVISOR: 200, AUDITOR: 200}
NONE = {CLERK: 403, SUPERVISOR: 403, AUDITOR: 403}
WRITERS = {CLERK: 200, SUPERVISOR: 200, AUDITOR: 403}


@pytest.fixture
def records(db, office, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path
    InsurerFactory()
    member = MemberFactory(office=office, number="21", family_name_kana="スズキ")
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    certificate = certificate_issue(
        member=member,
        reason="no_card",
        issued_on=date(2026, 4, 15),
        batch=IssueBatch.objects.create(kind="single", issued_on=date(2026, 4, 15)),
    )
    batch_render(batch_id=certificate.batch_id)
    case = LostCardCase.objects.create(
        member=member, lost_on=date(2026, 5, 1), reported_on=date(2026, 5, 2)
    )
    application = Application.objects.create(
        member=member, kind="lost_card", received_on=date(2026, 5, 3), lost_card_case=case
    )
    return member, certificate, case, application


def pages(member, certificate, case, application):
    month = timezone.localdate().strftime("%Y-%m")
    envelope = certificate.envelopes.get()
    return [
        ("certificates", reverse("admin:certificates_certificate_changelist"), OK),
        (
            "certificates filtered",
            reverse("admin:certificates_certificate_changelist")
            + f"?status=issued&reason=no_card&expires={month}&unreturned=yes&symbol=1001&q=すずき",
            OK,
        ),
        (
            "certificate",
            reverse("admin:certificates_certificate_change", args=[certificate.pk]),
            OK,
        ),
        (
            "certificate history",
            reverse("admin:certificates_certificate_history", args=[certificate.pk]),
            OK,
        ),
        ("certificate export", reverse("admin:certificates_certificate_export"), OK),
        ("certificate add", reverse("admin:certificates_certificate_add"), NONE),
        ("print", reverse("admin:certificates_certificate_print", args=[certificate.pk]), WRITERS),
        ("batches", reverse("admin:certificates_issuebatch_changelist"), OK),
        ("batch", reverse("admin:certificates_issuebatch_change", args=[certificate.batch_id]), OK),
        ("applications", reverse("admin:certificates_application_changelist"), OK),
        ("application add", reverse("admin:certificates_application_add"), WRITERS),
        (
            "application",
            reverse("admin:certificates_application_change", args=[application.pk]),
            OK,
        ),
        ("lost cases", reverse("admin:certificates_lostcardcase_changelist"), OK),
        ("lost case add", reverse("admin:certificates_lostcardcase_add"), WRITERS),
        ("lost case", reverse("admin:certificates_lostcardcase_change", args=[case.pk]), OK),
        ("notices", reverse("admin:certificates_notice_changelist"), OK),
        (
            "print log",
            reverse("admin:certificates_certificateprintlog_changelist"),
            {CLERK: 403, SUPERVISOR: 200, AUDITOR: 200},
        ),
        ("member page", reverse("admin:members_member_change", args=[member.pk]), OK),
        ("envelopes", reverse("admin:certificates_envelope_changelist"), OK),
        (
            "envelopes undelivered",
            reverse("admin:certificates_envelope_changelist")
            + f"?undelivered=yes&status=sent&route=office&symbol=1001&q=21&batch__id__exact={certificate.batch_id}",
            OK,
        ),
        ("envelope", reverse("admin:certificates_envelope_change", args=[envelope.pk]), OK),
        (
            "envelope history",
            reverse("admin:certificates_envelope_history", args=[envelope.pk]),
            OK,
        ),
        (
            "envelope returned",
            reverse("admin:certificates_envelope_returned", args=[envelope.pk]),
            WRITERS,
        ),
        ("envelope add", reverse("admin:certificates_envelope_add"), NONE),
    ]


@pytest.mark.django_db
def test_every_certificates_page_for_every_role(role_client, records):
    failures = []
    for name, url, expected in pages(*records):
        status = role_client.get(url).status_code
        if status != expected[role_client.role]:
            failures.append(f"{name}: {status} != {expected[role_client.role]}")
    assert failures == []


@pytest.mark.django_db
def test_printing_from_the_admin_is_logged(clerk_client, clerk, records):
    certificate = records[1]
    response = clerk_client.get(
        reverse("admin:certificates_certificate_print", args=[certificate.pk])
    )
    assert response["Content-Type"] == "application/pdf" and b"".join(
        response.streaming_content
    ).startswith(b"%PDF")
    assert CertificatePrintLog.objects.get().user == clerk


@pytest.mark.django_db
def test_clerk_records_a_return_with_the_action(clerk_client, records):
    certificate = records[1]
    response = clerk_client.post(
        reverse("admin:certificates_certificate_changelist"),
        {"action": "record_return", "_selected_action": [certificate.pk]},
    )
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert (certificate.status, certificate.returned_on) == ("returned", timezone.localdate())


@pytest.mark.django_db
def test_only_supervisors_approve_applications(clerk_client, supervisor_client, records):
    application = records[3]
    url = reverse("admin:certificates_application_changelist")
    clerk_client.post(url, {"action": "approve", "_selected_action": [application.pk]})
    assert Application.objects.get().status == "received"
    supervisor_client.post(url, {"action": "approve", "_selected_action": [application.pk]})
    assert Application.objects.get().status == "approved"


@pytest.mark.django_db
def test_supervisor_releases_a_rendered_batch(clerk_client, supervisor_client, records):
    batch = IssueBatch.objects.get(pk=records[1].batch_id)
    url = reverse("admin:certificates_issuebatch_changelist")
    clerk_client.post(url, {"action": "release", "_selected_action": [batch.pk]})
    assert IssueBatch.objects.get(pk=batch.pk).status == "rendered"
    supervisor_client.post(url, {"action": "release", "_selected_action": [batch.pk]})
    assert IssueBatch.objects.get(pk=batch.pk).status == "released"
    html = supervisor_client.get(
        reverse("admin:certificates_issuebatch_changelist")
    ).content.decode()
    assert '<progress value="100" max="100">' in html


@pytest.mark.django_db
def test_clerk_issues_a_certificate_from_the_member_page(clerk_client, office):
    InsurerFactory()
    member = MemberFactory(office=office, number="30")
    MynaStatusFactory(member=member, card="held", registration="unregistered")
    page = clerk_client.get(
        reverse("admin:members_member_change", args=[member.pk])
    ).content.decode()
    assert 'id="issue-certificate"' in page
    response = clerk_client.post(
        reverse("admin:certificates_certificate_issue_for_member", args=[member.pk])
    )
    certificate = Certificate.objects.get(member=member)
    assert response.status_code == 302 and certificate.reason == "not_registered"
    again = clerk_client.post(
        reverse("admin:certificates_certificate_issue_for_member", args=[member.pk]), follow=True
    )
    assert "重なる期間" in again.content.decode()
    assert Certificate.objects.filter(member=member).count() == 1


@pytest.mark.django_db
def test_auditor_cannot_issue_from_the_member_page(auditor_client, office):
    member = MemberFactory(office=office, number="31")
    assert (
        auditor_client.post(
            reverse("admin:certificates_certificate_issue_for_member", args=[member.pk])
        ).status_code
        == 403
    )


def download(client, batch, kind):
    return client.get(reverse("admin:certificates_issuebatch_download", args=[batch.pk, kind]))


@pytest.mark.django_db
def test_batch_files_only_through_the_checked_and_logged_view(
    records, clerk_client, supervisor_client, auditor_client, supervisor, settings
):
    from certificates.models import DownloadLog
    from certificates.services import batch_release

    batch = IssueBatch.objects.get(pk=records[1].batch_id)
    page = supervisor_client.get(reverse("admin:certificates_issuebatch_change", args=[batch.pk]))
    html = page.content.decode()
    assert "/media/" not in html and batch.pdf.name not in html  # no public path
    assert reverse("admin:certificates_issuebatch_download", args=[batch.pk, "pdf"]) in html
    with pytest.raises(ValueError):
        _ = batch.pdf.url  # the private storage has no URL at all

    # Before release: the supervisor checks the files; clerks and auditors cannot.
    assert download(clerk_client, batch, "pdf").status_code == 403
    assert download(auditor_client, batch, "mailing_csv").status_code == 403
    response = download(supervisor_client, batch, "pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert "no-store" in response["Cache-Control"]

    batch_release(batch=batch, user=supervisor)
    response = download(clerk_client, batch, "mailing_csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("symbol,office_name,postal_code")
    assert "1001" in text.splitlines()[1]
    assert download(auditor_client, batch, "pdf").status_code == 403
    assert download(supervisor_client, batch, "nonsense").status_code == 404

    logs = list(DownloadLog.objects.order_by("at").values_list("user__username", "kind"))
    assert logs == [("supervisor", "pdf"), ("clerk", "mailing_csv")]
    assert (
        auditor_client.get(reverse("admin:certificates_downloadlog_changelist")).status_code == 200
    )

    # Behind nginx: the view answers with X-Accel-Redirect after the same check and log.
    settings.PROTECTED_DOWNLOADS_ACCEL_PREFIX = "/protected/"
    response = download(clerk_client, batch, "pdf")
    assert response["X-Accel-Redirect"] == f"/protected/{batch.pdf.name}"
    assert response.content == b""
    assert DownloadLog.objects.count() == 3


@pytest.mark.django_db
def test_envelope_list_and_check_sheet_download_through_the_checked_view(
    records, clerk_client, supervisor_client, auditor_client, supervisor
):
    from certificates.models import DownloadLog
    from certificates.services import batch_release

    batch = IssueBatch.objects.get(pk=records[1].batch_id)
    html = supervisor_client.get(
        reverse("admin:certificates_issuebatch_change", args=[batch.pk])
    ).content.decode()
    assert "封筒リストCSV" in html and "封入チェックシートPDF" in html and "封筒の一覧" in html
    assert download(clerk_client, batch, "envelope_csv").status_code == 403  # not released
    batch_release(batch=batch, user=supervisor)
    response = download(clerk_client, batch, "envelope_csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("envelope,route,symbol,office_name,number,addressee")
    assert "1001,株式会社サンプル 本社,21,山田 太郎" in text.splitlines()[1]
    response = download(clerk_client, batch, "check_pdf")
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert download(auditor_client, batch, "check_pdf").status_code == 403
    assert list(DownloadLog.objects.order_by("at").values_list("kind", flat=True)) == [
        "envelope_csv",
        "check_pdf",
    ]


@pytest.mark.django_db
def test_clerk_records_a_returned_envelope_and_confirms_receipt(
    records, clerk_client, auditor_client, supervisor, settings
):
    from certificates.models import Envelope
    from certificates.services import batch_release

    envelope = records[1].envelopes.get()
    url = reverse("admin:certificates_envelope_returned", args=[envelope.pk])
    assert (
        "宛先不明で戻った"
        in clerk_client.get(
            reverse("admin:certificates_envelope_change", args=[envelope.pk])
        ).content.decode()
    )
    refused = clerk_client.post(url, {"returned_on": "2026-04-20", "note": "転居"})
    assert "印刷を許可する前" in refused.content.decode()  # not mailed yet
    batch_release(batch=envelope.batch, user=supervisor)
    assert auditor_client.post(url, {"returned_on": "2026-04-20"}).status_code == 403
    response = clerk_client.post(url, {"returned_on": "2026-04-20", "note": "転居"}, follow=True)
    assert "事業所経由の封筒なので自動では再送しません" in response.content.decode()
    envelope.refresh_from_db()
    assert (envelope.status, str(envelope.returned_on), envelope.return_note) == (
        "returned",
        "2026-04-20",
        "転居",
    )
    changelist = reverse("admin:certificates_envelope_changelist")
    listed = clerk_client.get(changelist + "?undelivered=yes").content.decode()
    assert "未達（14日以上）" in listed and str(envelope) in listed
    index = clerk_client.get(reverse("admin:index")).content.decode()
    assert 'id="worklist-undelivered"' in index
    clerk_client.post(changelist, {"action": "resolve", "_selected_action": [envelope.pk]})
    assert Envelope.objects.get(pk=envelope.pk).status == "resolved"
    assert str(envelope) not in clerk_client.get(changelist + "?undelivered=yes").content.decode()
