"""A batch's PDFs and lists, rendered in parts spread over the Celery workers (issue 11).

The batch is cut into parts in envelope order: whole offices together up to
`RENDER_PART_SIZE` documents, a bigger office in chunks of that size, a household (an
envelope) never split. Each part is one task (`certificates.render_batch_part`) that
reads only its own envelopes and documents, renders its certificates, notices, cover
sheets, check sheet and lists, and stores them: memory follows the part size, never the
batch size. Parts run in parallel on as many worker processes as take tasks from the
broker, on one machine or several sharing the database and the file store.

Completion: each part, once stored, locks the batch row and looks whether every part is
done; the one that sees it first joins the two lists into the batch's files and marks
the batch `rendered` (exactly once: the row lock and the status check). A part's task
delivered twice does nothing the second time (its advisory lock while it renders, its
status after). A failing part is retried by Celery with a growing wait; after
`PART_MAX_ATTEMPTS` attempts (deaths of its worker included) it is `failed`, the batch
too, with the reason; 「PDFを作り直す」 then renders only the parts not yet done.
"""

import csv
import io
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from insurer.history import save_with_history
from insurer.imports import escape_formula
from insurer.jobs import MAX_TAKEOVERS, advisory_lock
from insurer.masking import mask_digit_runs
from insurer.models import InsurerSettings, Office
from insurer.selectors import insurer_settings_get

from .models import BatchPart, Certificate, Envelope, IssueBatch, Notice
from .pdf import (
    CARD,
    ENVELOPE_HEADER,
    MAILING_HEADER,
    document_label,
    envelope_rows,
    mailing_rows,
    render_certificates,
    render_check_sheet,
    render_cover_sheets,
    render_notices,
)

logger = logging.getLogger(__name__)

RENDER_LOCK = "batch-render"
PART_LOCK = "batch-part-render"
RENDER_STARTED = "PDF作成を開始"
RENDER_RESUMED = "PDF作成を再開（前回の作成が途中で止まったため）"
RENDER_FAILED_PARTS = "PDF作成を再開（失敗した部分だけ作り直す）"
RENDER_DONE = "PDF作成が完了"
RENDER_FAILED = "PDF作成に失敗"
RENDER_GIVEN_UP = (
    "PDFの作成が続けて途中で止まったため、自動では再開しません"
    "（原因を確認してから「PDFを作り直す」を選んでください）。"
)
PART_FAILED = (
    "第{sequence}部（記号 {offices}、封筒 {first}〜{last}）のPDF作成が{attempts}回続けて"
    "失敗しました。原因を確認してから「PDFを作り直す」を選ぶと、失敗した部分だけ作り直します。"
    "（最後のエラー: {error}）"
)
PART_DIED = "作成中に処理が終了しました（強制終了・メモリ不足など）"
# Attempts of one part before it is given up: errors and deaths of its worker alike.
PART_MAX_ATTEMPTS = 3
# The part's certificates rendered between two progress writes.
PROGRESS_EVERY = 500
# For the tests that make a part fail on real workers: "<part sequence>:<attempts>" — that
# part raises on its first <attempts> attempts. Never set outside those tests.
TEST_FAIL_ENV = "INSURER_TEST_RENDER_FAIL"

Dispatch = Callable[[list[int]], None]


class PartWillRetry(Exception):
    """A part failed with attempts left: its Celery task retries it after a wait."""


def _enqueue_render(batch_id: int, *, interactive: bool = False) -> None:
    """The single entry point issuing calls (on commit): render the batch on the workers;
    `interactive`: a clerk waits for it (settings.CELERY_INTERACTIVE_QUEUE, read first)."""
    from .tasks import render_batch

    if interactive:
        render_batch.apply_async(args=[batch_id], queue=settings.CELERY_INTERACTIVE_QUEUE)
    else:
        render_batch.delay(batch_id)


# --- The batch: plan, dispatch, resume ----------------------------------------------


def batch_render(*, batch_id: int, dispatch: Dispatch | None = None) -> IssueBatch:
    """Render the batch: cut it into parts (once) and hand the parts not yet rendered to
    `dispatch` (the Celery task passes one that fans them out to the workers; without it
    they are rendered here, one after another, as a shell or a test would).

    A batch `issued` starts; `failed` re-renders only its parts not done; `rendered`
    (「PDFを作り直す」 before release) renders every part again; `rendering` is either
    still going (a second delivery: the parts waiting are handed out again, harmless) or
    stalled (no worker holds any of its locks: resumed, its history saying so). A
    released batch is left alone.
    """
    with advisory_lock(RENDER_LOCK, batch_id) as taken:
        batch = IssueBatch.objects.get(pk=batch_id)
        if not taken or batch.status == IssueBatch.Status.RELEASED:
            return batch  # another worker plans it right now / printed already
        resumed = batch.status == IssueBatch.Status.RENDERING
        if resumed and not _is_stalled(batch):
            waiting = _part_ids(batch, (BatchPart.Status.PENDING, BatchPart.Status.RETRYING))
            _run(waiting, dispatch)
            return batch
        if resumed and _render_resumes(batch) >= MAX_TAKEOVERS:  # it kills its worker each time
            batch.status, batch.error = IssueBatch.Status.FAILED, RENDER_GIVEN_UP
            save_with_history(batch, reason=RENDER_FAILED, user=None)
            return batch
        again = batch.status == IssueBatch.Status.RENDERED
        failed_before = batch.status == IssueBatch.Status.FAILED and batch.parts.exists()
        batch.status, batch.progress, batch.error = IssueBatch.Status.RENDERING, 0, ""
        reason = RENDER_RESUMED if resumed else RENDER_STARTED
        save_with_history(batch, reason=RENDER_FAILED_PARTS if failed_before else reason, user=None)
        try:
            _batch_plan(batch)
        except Exception as error:
            _batch_fail(batch.pk, mask_digit_runs(f"{type(error).__name__}: {error}"))
            raise
        todo = batch.parts.all() if again else batch.parts.exclude(status=BatchPart.Status.RENDERED)
        if resumed:  # attempts kept: a part that kills its worker each time is given up
            todo.update(status=BatchPart.Status.PENDING)
        else:
            todo.update(status=BatchPart.Status.PENDING, attempts=0, error="")
        ids = list(todo.order_by("sequence").values_list("pk", flat=True))
        _batch_progress_update(batch.pk)
    _run(ids, dispatch)
    return batch_complete(batch_id=batch_id)


def _run(part_ids: list[int], dispatch: Dispatch | None) -> None:
    if not part_ids:
        return
    if dispatch is not None:
        dispatch(part_ids)
        return
    for part_id in part_ids:  # in this process: retried at once, no wait
        while True:
            try:
                batch_part_render(part_id=part_id)
                break
            except PartWillRetry:
                continue


def _part_ids(batch: IssueBatch, statuses: tuple[str, ...]) -> list[int]:
    return list(
        batch.parts.filter(status__in=statuses).order_by("sequence").values_list("pk", flat=True)
    )


def _render_resumes(batch: IssueBatch) -> int:
    """How many times the current render was resumed after its worker died."""
    resumes = 0
    for reason in batch.history.order_by("-history_date").values_list(
        "history_change_reason", flat=True
    ):
        if reason in (RENDER_STARTED, RENDER_FAILED_PARTS):
            break
        resumes += reason == RENDER_RESUMED
    return resumes


def batch_render_is_stalled(batch: IssueBatch) -> bool:
    """`rendering`, and nothing is going on: no worker holds its lock or a part's, and it
    has no plan yet, a part left `rendering` by a worker that died, or every part done
    without the batch being finished. Parts waiting in the queue are not stalled."""
    if batch.status != IssueBatch.Status.RENDERING:
        return False
    with advisory_lock(RENDER_LOCK, batch.pk) as nobody_plans:
        return nobody_plans and _is_stalled(batch)


def _is_stalled(batch: IssueBatch) -> bool:
    statuses = dict(batch.parts.values_list("pk", "status"))
    if not statuses:
        return True
    rendering = [pk for pk, status in statuses.items() if status == BatchPart.Status.RENDERING]
    if any(_part_is_being_rendered(pk) for pk in rendering):
        return False
    left = set(statuses.values()) - {BatchPart.Status.RENDERED, BatchPart.Status.FAILED}
    return bool(rendering) or not left


def _part_is_being_rendered(part_id: int) -> bool:
    with advisory_lock(PART_LOCK, part_id) as free:
        return not free


def _batch_plan(batch: IssueBatch) -> list[BatchPart]:
    """The batch's parts, made once (its envelopes first, for a batch made before them)."""
    from .services import batch_envelopes_build  # issuing's function; only called here

    if batch.parts.exists():
        return list(batch.parts.order_by("sequence"))
    batch_envelopes_build(batch=batch, as_of=batch.issued_on)
    batch.refresh_from_db()
    with transaction.atomic():
        parts = [
            BatchPart(batch=batch, sequence=sequence, **fields)
            for sequence, fields in enumerate(_part_plan(batch, settings.RENDER_PART_SIZE), 1)
        ]
        return BatchPart.objects.bulk_create(parts)


def _part_plan(batch: IssueBatch, size: int) -> Iterator[dict]:
    """Runs of envelopes in envelope order: an office's envelopes (routed through it)
    join the current part when the whole office still fits, else start a part; inside a
    part, a new chunk when `size` documents are reached. Directly mailed envelopes (by
    postal code, across offices) are chunked by size only."""
    office_sizes = dict(
        batch.envelopes.filter(route=Envelope.Route.OFFICE)
        .values("office_id")
        .annotate(n=Count("certificates", distinct=True) + Count("notices", distinct=True))
        .values_list("office_id", "n")
    )
    envelopes = (
        batch.envelopes.order_by("sequence")
        .annotate(
            n_certificates=Count("certificates", distinct=True),
            n_notices=Count("notices", distinct=True),
        )
        .values_list("sequence", "office_id", "route", "n_certificates", "n_notices")
    )
    part: dict | None = None
    for sequence, symbol, route, certificates, notices in envelopes.iterator(chunk_size=5000):
        documents = certificates + notices
        new_office = part is not None and route == Envelope.Route.OFFICE
        new_office = new_office and (symbol != part["last_symbol"] or part["direct"])
        if part is not None and (
            part["documents"] + documents > size
            or (new_office and part["documents"] + office_sizes.get(symbol, 0) > size)
        ):
            yield _part_fields(part)
            part = None
        if part is None:
            part = {"first_envelope": sequence, "first_symbol": symbol, "documents": 0}
            part.update(envelope_count=0, certificate_count=0, notice_count=0)
        part.update(last_envelope=sequence, last_symbol=symbol, direct=route != "office")
        part["documents"] += documents
        part["envelope_count"] += 1
        part["certificate_count"] += certificates
        part["notice_count"] += notices
    if part is not None:
        yield _part_fields(part)
    elif not batch.envelopes.exists():  # nothing to mail: one empty part, empty files
        yield {"first_envelope": 0, "last_envelope": 0}


def _part_fields(part: dict) -> dict:
    return {key: value for key, value in part.items() if key not in ("documents", "direct")}


# --- One part ------------------------------------------------------------------------


def batch_part_render(*, part_id: int) -> BatchPart:
    """Render one part and store its files; then finish the batch if it was the last.

    Idempotent: a second delivery while the part renders finds its lock taken, after it
    finds it `rendered`; either way it does nothing. A failure is recorded on the part
    and raised as PartWillRetry while attempts are left; the last one fails the part and
    the batch (no exception: nothing for Celery to retry)."""
    with advisory_lock(PART_LOCK, part_id) as taken:
        part = BatchPart.objects.select_related("batch").get(pk=part_id)
        if not taken or not _part_is_due(part):
            return part
        if part.attempts >= PART_MAX_ATTEMPTS:  # its worker died while rendering it, each time
            return _part_give_up(part, PART_DIED)
        part.status, part.error, part.rendered_count = BatchPart.Status.RENDERING, "", 0
        part.attempts += 1
        part.started_at, part.rendered_by = timezone.now(), _process_name()
        part.save()
        try:
            _part_render_files(part)
        except Exception as error:
            detail = mask_digit_runs(f"{type(error).__name__}: {error}")
            logger.warning("batch %s part %s failed: %s", part.batch_id, part.sequence, detail)
            if part.attempts >= PART_MAX_ATTEMPTS:
                return _part_give_up(part, detail)
            part.status, part.error = BatchPart.Status.RETRYING, detail
            part.save(update_fields=["status", "error"])
            raise PartWillRetry(detail) from error
        part.status, part.rendered_at = BatchPart.Status.RENDERED, timezone.now()
        part.rendered_count = part.certificate_count
        part.save()
        _batch_progress_update(part.batch_id)
    batch_complete(batch_id=part.batch_id)
    return part


def _part_is_due(part: BatchPart) -> bool:
    if part.status in (BatchPart.Status.RENDERED, BatchPart.Status.FAILED):
        return False  # a copy of a task already done / given up
    return part.batch.status in (IssueBatch.Status.RENDERING, IssueBatch.Status.FAILED)


def _process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _part_give_up(part: BatchPart, detail: str) -> BatchPart:
    part.status, part.error = BatchPart.Status.FAILED, detail
    part.save(update_fields=["status", "error"])
    reason = PART_FAILED.format(
        sequence=part.sequence,
        offices=part.office_range or "—",
        first=part.first_envelope,
        last=part.last_envelope,
        attempts=part.attempts,
        error=detail,
    )
    _batch_fail(part.batch_id, reason)
    return part


def _batch_fail(batch_id: int, reason: str) -> None:
    with transaction.atomic():
        batch = IssueBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != IssueBatch.Status.RENDERING:
            return
        batch.status, batch.error = IssueBatch.Status.FAILED, reason
        save_with_history(batch, reason=RENDER_FAILED, user=None)


def _batch_progress_update(batch_id: int) -> None:
    """The batch's percentage from its parts (certificates rendered of all), below 100
    until the batch is finished: one UPDATE, whichever worker writes it."""
    percent = (
        BatchPart.objects.filter(batch_id=OuterRef("pk"))
        .values("batch_id")
        .annotate(
            percent=Least(
                99,
                Coalesce(Sum("rendered_count"), 0) * 100 / Greatest(Sum("certificate_count"), 1),
            )
        )
        .values("percent")
    )
    IssueBatch.objects.filter(pk=batch_id, status=IssueBatch.Status.RENDERING).update(
        progress=Coalesce(Subquery(percent), 0)
    )


def batch_envelopes_for_print(
    batch: IssueBatch, *, first: int | None = None, last: int | None = None
) -> list[Envelope]:
    """The batch's envelopes in order (those numbered `first`..`last` if given), each with
    `.documents` — (label, item) by branch, certificates before notices — and
    `.resent_from_labels` (バッチN-封筒M). Three joins on the batch, whatever its size (no
    list of ids in a query)."""
    numbered = {} if first is None else {"sequence__range": (first, last)}
    inside = {} if first is None else {"envelopes__sequence__range": (first, last)}
    envelopes = {e.pk: e for e in batch.envelopes.filter(**numbered).order_by("sequence")}
    contents: dict[int, list] = {pk: [] for pk in envelopes}
    for model in (Certificate, Notice):
        for item in model.objects.filter(envelopes__batch=batch, **inside).annotate(
            envelope_pk=F("envelopes__pk")
        ):
            contents[item.envelope_pk].append(item)
    resent_from: dict[int, list[str]] = {pk: [] for pk in envelopes}
    resent_inside = {} if first is None else {"resent_in__sequence__range": (first, last)}
    for envelope_pk, old_batch, old_sequence in (
        Envelope.objects.filter(resent_in__batch=batch, **resent_inside)
        .order_by("batch_id", "sequence")
        .values_list("resent_in_id", "batch_id", "sequence")
    ):
        resent_from[envelope_pk].append(f"バッチ{old_batch}-封筒{old_sequence}")
    for pk, envelope in envelopes.items():
        items = sorted(
            contents[pk], key=lambda item: (item.branch, not _is_certificate(item), item.pk)
        )
        envelope.documents = [
            (document_label(item, resent=item.batch_id != batch.pk), item) for item in items
        ]
        envelope.resent_from_labels = resent_from[pk]
    return list(envelopes.values())


def _is_certificate(item) -> bool:
    return isinstance(item, Certificate)


def _part_render_files(part: BatchPart) -> None:
    """The part's six files, from its own envelopes only; progress written as it goes."""
    if os.environ.get(TEST_FAIL_ENV):
        sequence, attempts = (int(n) for n in os.environ[TEST_FAIL_ENV].split(":"))
        if part.sequence == sequence and part.attempts <= attempts:
            raise OSError(f"テストの失敗（{part.attempts}回目）")
    batch = part.batch
    envelopes = batch_envelopes_for_print(batch, first=part.first_envelope, last=part.last_envelope)
    certificates = [item for e in envelopes for _, item in e.documents if _is_certificate(item)]
    notices = [item for e in envelopes for _, item in e.documents if not _is_certificate(item)]
    symbols = {item.symbol for item in (*certificates, *notices)}
    symbols |= {envelope.office_id for envelope in envelopes}
    offices = Office.objects.in_bulk(symbols, field_name="symbol")
    written = [0]

    def progress(done: int) -> None:
        if done - written[0] >= PROGRESS_EVERY:
            written[0] = done
            BatchPart.objects.filter(pk=part.pk).update(rendered_count=done)
            _batch_progress_update(batch.pk)

    by_office = insurer_settings_get().mailing_sort == InsurerSettings.MailingSort.OFFICE or all(
        envelope.route == Envelope.Route.OFFICE for envelope in envelopes
    )
    title = f"資格確認書 {batch.issued_on.isoformat()} バッチ{batch.pk}"
    fee = batch.reissue_fee
    stem = f"batch-{batch.pk}-part-{part.sequence:03d}"
    files = {
        "pdf": (
            f"{stem}-certificates.pdf",
            lambda: render_certificates(
                certificates,
                title=f"{title} 第{part.sequence}部",
                progress=progress,
                layout=batch.certificate_format or CARD,
                in_given_order=True,
                sheet_per_office=by_office,
            ),
        ),
        "notices_pdf": (
            f"{stem}-notices.pdf",
            lambda: render_notices(
                notices,
                title=f"資格情報のお知らせ バッチ{batch.pk} 第{part.sequence}部",
                in_given_order=True,
            ),
        ),
        "cover_pdf": (
            f"{stem}-cover.pdf",
            lambda: render_cover_sheets(
                certificates,
                notices,
                offices=offices,
                title=f"送付書 バッチ{batch.pk} 第{part.sequence}部",
                reissue_fee=fee,
            ),
        ),
        "mailing_csv": (
            f"{stem}-mailing.csv",
            lambda: _mailing_csv(certificates, notices, offices),
        ),
        "envelope_csv": (
            f"{stem}-envelopes.csv",
            lambda: _csv_bytes(ENVELOPE_HEADER, envelope_rows(envelopes, offices=offices)),
        ),
        "check_pdf": (
            f"{stem}-check-sheet.pdf",
            lambda: render_check_sheet(
                envelopes,
                offices=offices,
                title=f"封入チェックシート バッチ{batch.pk} 第{part.sequence}部",
                reissue_fee=fee,
            ),
        ),
    }
    for field, (name, render) in files.items():
        getattr(part, field).save(name, ContentFile(render()), save=False)


def _mailing_csv(certificates, notices, offices) -> bytes:
    return _csv_bytes(MAILING_HEADER, mailing_rows(certificates, notices, offices=offices))


def _csv_bytes(header: tuple, rows: list[tuple]) -> bytes:
    """UTF-8 with BOM (spreadsheets), CRLF, every cell escaped against formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[escape_formula(cell) for cell in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig")


# --- The batch, finished -------------------------------------------------------------

SINGLE_PART_FILES = ("pdf", "notices_pdf", "cover_pdf", "check_pdf")


def batch_complete(*, batch_id: int) -> IssueBatch:
    """If every part is rendered and the batch still `rendering`: its two lists joined
    from the parts' (streamed through a temporary file), and the batch `rendered` — once,
    whichever worker's part came last (the batch row is locked while it is decided). A
    batch of one part also takes that part's PDFs as its own files."""
    with transaction.atomic():
        batch = IssueBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != IssueBatch.Status.RENDERING:
            return batch
        parts = list(batch.parts.order_by("sequence"))
        if not parts or any(part.status != BatchPart.Status.RENDERED for part in parts):
            return batch
        for field, name in (("mailing_csv", "mailing"), ("envelope_csv", "envelopes")):
            with tempfile.TemporaryFile() as joined:
                _join_csv((getattr(part, field) for part in parts), joined)
                joined.seek(0)
                getattr(batch, field).save(f"batch-{batch.pk}-{name}.csv", File(joined), save=False)
        for field in SINGLE_PART_FILES:
            setattr(batch, field, getattr(parts[0], field).name if len(parts) == 1 else "")
        batch.status, batch.progress, batch.rendered_at = (
            IssueBatch.Status.RENDERED,
            100,
            timezone.now(),
        )
        save_with_history(batch, reason=RENDER_DONE, user=None)
    return batch


def _join_csv(files: Iterable, into: IO[bytes]) -> None:
    """The parts' CSV files one after another, the header (and its BOM) written once."""
    for index, file in enumerate(files):
        with file.open("rb") as source:
            header = source.readline()
            if index == 0:
                into.write(header)
            while chunk := source.read(1 << 20):
                into.write(chunk)


def batch_progress(batch: IssueBatch) -> dict:
    """Where the batch's rendering stands, from its parts (the page and its JSON poll)."""
    counts = batch.parts.aggregate(
        parts=Count("pk"),
        parts_done=Count("pk", filter=Q(status=BatchPart.Status.RENDERED)),
        parts_failed=Count("pk", filter=Q(status=BatchPart.Status.FAILED)),
        certificates=Coalesce(Sum("certificate_count"), 0),
        certificates_done=Coalesce(Sum("rendered_count"), 0),
    )
    text = f"PDFを作成中です（{batch.progress}%）。"
    if counts["parts"]:
        text += (
            f"完了した部分 {counts['parts_done']}/{counts['parts']}、作成済の資格確認書 "
            f"{counts['certificates_done']:,}/{counts['certificates']:,}枚"
        )
        if counts["parts_failed"]:
            text += f"、失敗した部分 {counts['parts_failed']}"
        text += "。"
    labels = dict(BatchPart.Status.choices)
    return {
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "progress": batch.progress,
        "text": text,
        **counts,
        "part_rows": [
            {
                "sequence": sequence,
                "status_label": labels[status],
                "count": f"{done:,}/{total:,}",
                "attempts": attempts,
            }
            for sequence, status, done, total, attempts in batch.parts.order_by(
                "sequence"
            ).values_list("sequence", "status", "rendered_count", "certificate_count", "attempts")
        ],
    }
