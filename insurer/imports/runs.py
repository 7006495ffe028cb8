"""A confirmed admin import, run in the background: the same set-based code as the
``import`` command, with its progress written where the progress page can read it.

``import_run_create`` records the run (the admin then enqueues ``insurer.import_file``);
``import_run_execute`` is what the task calls. The upload stays encrypted on disk until
the run has read it, and is removed whatever happens.

A running import holds the lock ("import_run", id) from before it is marked 取込中 until its
outcome is saved (insurer.jobs.advisory_lock: it dies with the process). So a run that is
取込中 while its lock is free was left by a worker that died: its transaction was rolled
back, nothing of the file was written. ``import_run_release_abandoned`` marks it failed,
says so in Japanese and removes its upload; the progress page calls it on every refresh,
and a task delivered again for it calls it too.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django.utils.module_loading import import_string
from import_export.results import RowResult

from ..jobs import advisory_lock, pause_for_tests
from ..models import ImportRun
from .problems import import_problems
from .reading import FORMATS_BY_NAME, CsvSource, DatasetSource
from .set_based import SET_CHUNK
from .storage import EncryptedTempStorage

PROBLEMS_KEPT = 1_000  # problems a run keeps for its page; the count says how many more
UPLOAD_GONE = "取り込むファイルが見つかりません（時間切れか、すでに取り込み済みです）。"
ABANDONED = (
    "取込処理が途中で止まりました（処理していたワーカーの停止など）。"
    "このファイルの内容は1行も登録されていません。もう一度ファイルを取り込んでください。"
)
LOCK_KIND = "import_run"


def import_run_create(
    *,
    resource: str,
    upload_name: str,
    file_name: str,
    input_format: str,
    encoding: str | None,
    user: AbstractBaseUser | None,
) -> ImportRun:
    """Record a confirmed import, waiting for its task."""
    return ImportRun.objects.create(
        resource=resource,
        upload_name=upload_name,
        file_name=file_name[:255],
        input_format=input_format,
        encoding=encoding or "",
        user=user if user is not None and user.is_authenticated else None,
    )


class ProgressWriter:
    """``progress(done, total)`` for a run: on PostgreSQL through a connection of its own,
    committed at once while the import's transaction is still open. SQLite locks the
    whole file for the import's transaction, so there the page sees the end only."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.connection = None
        if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)

    def __call__(self, done: int, total: int) -> None:
        if self.connection is None:
            return
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportRun._meta.db_table} SET rows_done = %s, rows_total = %s "
                "WHERE id = %s",
                [done, total, self.run_id],
            )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def import_run_release_abandoned(run: ImportRun) -> ImportRun:
    """If `run` is 取込中 but nobody holds its lock, its worker died: mark it failed."""
    if run.status != ImportRun.Status.RUNNING:
        return run
    with advisory_lock(LOCK_KIND, run.pk) as taken:
        if taken:
            _mark_abandoned(run)
    run.refresh_from_db()
    return run


def _mark_abandoned(run: ImportRun) -> None:
    """With the run's lock held: a 取込中 run is a dead worker's."""
    abandoned = ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.RUNNING).update(
        status=ImportRun.Status.FAILED,
        problems=[ABANDONED],
        problems_total=1,
        finished_at=timezone.now(),
    )
    if abandoned:
        EncryptedTempStorage(name=run.upload_name).remove()


def import_run_execute(*, run_id: int) -> ImportRun:
    """Run a recorded import (once: a task delivered again finds it started, or left by a
    dead worker, and then only marks it failed)."""
    with advisory_lock(LOCK_KIND, run_id) as taken:
        if not taken:  # another worker is running it
            return ImportRun.objects.get(pk=run_id)
        claimed = ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED).update(
            status=ImportRun.Status.RUNNING
        )
        run = ImportRun.objects.get(pk=run_id)
        if not claimed:
            _mark_abandoned(run)
            run.refresh_from_db()
            return run
        pause_for_tests()  # the kill test stops the worker here, 取込中
        return _execute(run)


def _execute(run: ImportRun) -> ImportRun:
    progress = ProgressWriter(run.pk)
    storage = EncryptedTempStorage(name=run.upload_name)
    resource = import_string(run.resource)(progress=progress, lean=True)
    resource.progress_every = SET_CHUNK
    problems: list[str] = []
    result = None
    try:
        try:
            data = storage.read()
        except FileNotFoundError:
            problems = [UPLOAD_GONE]
        else:
            if run.input_format == "csv":
                source = CsvSource.from_bytes(data, run.encoding or None)
            else:
                format_class = FORMATS_BY_NAME[run.input_format](encoding=run.encoding or None)
                source = DatasetSource(format_class.create_dataset(data))
            del data
            try:
                result = resource.import_set_based(source, dry_run=False, user=run.user)
            except ValueError as error:  # no encoding reads the file
                problems = [str(error) or "ファイルを読み取れません。"]
    finally:
        storage.remove()
        progress.close()
    if result is not None:
        problems = [str(problem) for problem in import_problems(result, resource)]
        totals = result.totals
        run.counts = {
            "new": totals[RowResult.IMPORT_TYPE_NEW],
            "update": totals[RowResult.IMPORT_TYPE_UPDATE],
            "skip": totals[RowResult.IMPORT_TYPE_SKIP],
        }
        run.rows_total = result.total_rows
        run.rows_done = resource.rows_done
    run.problems = problems[:PROBLEMS_KEPT]
    run.problems_total = len(problems)
    run.status = ImportRun.Status.FAILED if problems else ImportRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    return run
