"""A batch rendered in parts (issue 11, item 2), in this process: the plan (whole offices
together, a big office in chunks, a household never split), every certificate printed
exactly once across the parts, the batch finished once, a failing part retried and, if
it keeps failing, the batch failed and 「PDFを作り直す」 re-rendering only that part; the
batch page listing the parts with their progress, and their downloads checked and logged.
The same tasks on real worker processes: tests/insurer/test_celery_render.py."""

from collections import Counter

import pytest
from django.urls import reverse

from certificates import rendering
from certificates.models import BatchPart, DownloadLog, IssueBatch
from certificates.rendering import (
    PART_LOCK,
    PART_MAX_ATTEMPTS,
    RENDER_DONE,
    batch_part_render,
    batch_progress,
    batch_render,
    batch_render_is_stalled,
)
from certificates.services import batch_release
from certificates.tasks import render_batch
from tests.certificates.render_register import issue_batch, multi_office_register, printed_names
from tests.certificates.test_render_resume import parts_render_here  # noqa: F401
from tests.locks import held_elsewhere

OFFICES = {"1001": 3, "1002": 5, "1003": 1, "1004": 2}  # 4 + 7 + 1 + 3 certificates


@pytest.fixture
def register(db, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path / "private"
    settings.RENDER_PART_SIZE = 4
    return multi_office_register(OFFICES)


@pytest.fixture
def batch(register, monkeypatch) -> IssueBatch:
    return issue_batch(monkeypatch)


def fail(monkeypatch, sequence: int, times: int) -> list[int]:
    """Part `sequence` raises on its next `times` attempts (a full disk, a broken font…)."""
    real, calls = rendering._part_render_files, []

    def flaky(part):
        if part.sequence == sequence:
            calls.append(part.sequence)
            if len(calls) <= times:
                raise OSError("No space left on device")
        return real(part)

    monkeypatch.setattr(rendering, "_part_render_files", flaky)
    return calls


def done_reasons(batch: IssueBatch) -> list[str]:
    reasons = batch.history.values_list("history_change_reason", flat=True)
    return [reason for reason in reasons if reason == RENDER_DONE]


def test_parts_keep_offices_and_households_whole_and_print_every_certificate_once(batch, register):
    batch = render_batch.apply(args=[batch.pk]) and IssueBatch.objects.get(pk=batch.pk)
    assert batch.status == "rendered" and len(done_reasons(batch)) == 1
    parts = list(batch.parts.order_by("sequence"))
    # 1001 alone (4); 1002 is bigger than a part: two chunks, households whole (4 + 3);
    # its last chunk takes 1003 (1) with it; 1004 (3) does not fit there any more.
    assert [(p.first_symbol, p.last_symbol, p.certificate_count) for p in parts] == [
        ("1001", "1001", 4),
        ("1002", "1002", 4),
        ("1002", "1003", 4),
        ("1004", "1004", 3),
    ]
    assert all(p.status == "rendered" and p.attempts == 1 for p in parts)
    envelopes = [e for p in parts for e in range(p.first_envelope, p.last_envelope + 1)]
    assert envelopes == list(range(1, batch.envelopes.count() + 1))  # each in one part
    by_part = [printed_names(part.pdf.read()) for part in parts]
    assert sum(by_part, Counter()) == Counter(register)  # each certificate once in all parts
    assert [sum(names.values()) for names in by_part] == [p.certificate_count for p in parts]
    # Several parts: no single batch PDF; the two lists are joined, the header once.
    assert not batch.pdf and not batch.check_pdf
    mailing = batch.mailing_csv.read().decode("utf-8-sig").splitlines()
    assert mailing[0].startswith("symbol,") and len(mailing) == 1 + len(register)
    assert sum(line.startswith("symbol,") for line in mailing) == 1
    envelope_rows = batch.envelope_csv.read().decode("utf-8-sig").splitlines()[1:]
    assert [row.split(",")[0] for row in envelope_rows] == [str(n) for n in envelopes]


def test_a_part_that_fails_once_is_retried_and_the_batch_finishes(batch, monkeypatch):
    calls = fail(monkeypatch, sequence=2, times=1)
    batch_render(batch_id=batch.pk)  # retried at once here; by Celery after a wait on workers
    batch.refresh_from_db()
    assert batch.status == "rendered" and len(done_reasons(batch)) == 1
    part = batch.parts.get(sequence=2)
    assert (part.status, part.attempts, len(calls)) == ("rendered", 2, 2)
    assert set(batch.parts.values_list("attempts", flat=True)) == {1, 2}


def test_a_part_that_keeps_failing_fails_the_batch_and_only_it_is_rendered_again(
    batch, monkeypatch, supervisor
):
    calls = fail(monkeypatch, sequence=3, times=99)
    batch_render(batch_id=batch.pk)
    batch.refresh_from_db()
    assert len(calls) == PART_MAX_ATTEMPTS
    assert batch.status == "failed"
    assert "第3部（記号 1002〜1003" in batch.error and "3回続けて失敗" in batch.error
    assert "OSError: No space left on device" in batch.error
    failed = batch.parts.get(sequence=3)
    assert (failed.status, failed.attempts) == ("failed", PART_MAX_ATTEMPTS)
    others = {p.sequence: p.rendered_at for p in batch.parts.exclude(sequence=3)}
    assert len(others) == 3 and all(others.values())  # the other parts went on
    with pytest.raises(Exception, match="PDFを作成済み"):
        batch_release(batch=batch, user=supervisor)

    monkeypatch.undo()  # the cause is fixed; 「PDFを作り直す」
    render_batch.apply(args=[batch.pk])
    batch.refresh_from_db()
    assert batch.status == "rendered" and len(done_reasons(batch)) == 1
    again = {p.sequence: p.rendered_at for p in batch.parts.exclude(sequence=3)}
    assert again == others  # only the failed part was rendered again
    assert batch.parts.get(sequence=3).status == "rendered"
    batch_release(batch=batch, user=supervisor)


def test_a_second_delivery_of_a_part_does_nothing(batch):
    batch_render(batch_id=batch.pk)
    part = BatchPart.objects.get(batch=batch, sequence=1)
    assert batch_part_render(part_id=part.pk).rendered_at == part.rendered_at  # done: nothing

    BatchPart.objects.filter(pk=part.pk).update(status="rendering")
    IssueBatch.objects.filter(pk=batch.pk).update(status="rendering")
    with held_elsewhere(PART_LOCK, part.pk):  # another worker renders it right now
        again = batch_part_render(part_id=part.pk)
    assert (again.status, again.attempts, again.rendered_at) == (
        "rendering",
        1,
        part.rendered_at,
    )


def test_a_part_left_rendering_by_a_dead_worker_makes_the_batch_stalled(batch):
    handed_out = []
    batch_render(batch_id=batch.pk, dispatch=handed_out.extend)
    batch.refresh_from_db()
    assert len(handed_out) == 4 and not batch_render_is_stalled(batch)  # waiting in the queue
    BatchPart.objects.filter(pk=handed_out[0]).update(status="rendering", attempts=1)
    with held_elsewhere(PART_LOCK, handed_out[0]):
        assert not batch_render_is_stalled(batch)  # its worker is alive
    assert batch_render_is_stalled(batch)  # its worker died

    batch = batch_render(batch_id=batch.pk)  # 「PDFを作り直す」 or the next delivery
    assert batch.status == "rendered"
    assert batch.parts.get(pk=handed_out[0]).attempts == 2  # the death counted


def test_the_batch_page_shows_the_parts_and_their_progress(batch, supervisor_client):
    started = []
    batch_render(batch_id=batch.pk, dispatch=started.extend)  # handed out, none taken yet
    first = batch.parts.get(sequence=1)
    batch_part_render(part_id=first.pk)  # one worker finished one part

    url = reverse("admin:certificates_issuebatch_change", args=[batch.pk])
    page = supervisor_client.get(url).content.decode()
    assert "PDFを作成中です" in page and "完了した部分 1/4" in page
    assert "作成済の資格確認書 4/15枚" in page
    assert 'id="batch-parts"' in page and "第1部" in page and "第4部" in page
    assert "待機中" in page and "作成済" in page and "更新" in page
    assert reverse("admin:certificates_issuebatch_progress", args=[batch.pk]) in page
    progress = supervisor_client.get(
        reverse("admin:certificates_issuebatch_progress", args=[batch.pk])
    ).json()
    assert (progress["status"], progress["parts_done"], progress["parts"]) == ("rendering", 1, 4)
    assert progress["certificates_done"] == 4 and progress["progress"] == 26  # 4 of 15

    for part_id in started[1:]:
        batch_part_render(part_id=part_id)
    progress = supervisor_client.get(
        reverse("admin:certificates_issuebatch_progress", args=[batch.pk])
    ).json()
    assert (progress["status"], progress["parts_done"], progress["progress"]) == (
        "rendered",
        4,
        100,
    )
    assert batch_progress(IssueBatch.objects.get(pk=batch.pk))["certificates_done"] == 15


def test_part_downloads_are_checked_and_logged(batch, supervisor_client, clerk_client):
    batch_render(batch_id=batch.pk)
    part = batch.parts.get(sequence=2)
    url = reverse("admin:certificates_issuebatch_part_download", args=[batch.pk, 2, "pdf"])
    page = supervisor_client.get(
        reverse("admin:certificates_issuebatch_change", args=[batch.pk])
    ).content.decode()
    assert url in page
    assert clerk_client.get(url).status_code == 403  # before release: supervisors only
    assert not DownloadLog.objects.exists()

    response = supervisor_client.get(url)
    assert response.status_code == 200
    assert printed_names(b"".join(response.streaming_content))  # the part's certificates
    log = DownloadLog.objects.get()
    assert (log.part, log.batch_id, log.kind, log.user.username) == (
        part,
        batch.pk,
        "pdf",
        "supervisor",
    )
    assert log.file_name == part.pdf.name.rsplit("/", 1)[-1]

    IssueBatch.objects.filter(pk=batch.pk).update(status="released")
    assert clerk_client.get(url).status_code == 200  # released: the printing clerk
    assert DownloadLog.objects.filter(part=part, user__username="clerk").count() == 1
    missing = reverse("admin:certificates_issuebatch_part_download", args=[batch.pk, 9, "pdf"])
    assert supervisor_client.get(missing).status_code == 404
