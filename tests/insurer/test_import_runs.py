"""A confirmed admin import runs in the background (the task ``insurer.import_file``) and
the clerk follows it on a progress page: 取込中… N / M 行, then the outcome in Japanese."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

import insurer.admin_imports
import insurer.imports.runs
import insurer.imports.set_based
from insurer.imports import EncryptedTempStorage
from insurer.imports.runs import ABANDONED, LOCK_KIND, ProgressWriter, import_run_execute
from insurer.models import ImportRun
from members.models import Member, MyNumber
from tests.importing import MEMBER_HEADER, member_line, recorded_import_run
from tests.locks import held_elsewhere


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The runs the admin enqueued, not run (as with a worker that has not started)."""
    runs: list[int] = []
    monkeypatch.setattr(insurer.admin_imports.import_file, "delay", runs.append)
    return runs


def confirm(client, lines: list[str]):
    data = ("\r\n".join(lines) + "\r\n").encode()
    preview = client.post(
        reverse("admin:members_member_import"),
        {"format": "0", "import_file": SimpleUploadedFile("members.csv", data, "text/csv")},
    )
    form = preview.context["confirm_form"]
    return client.post(
        reverse("admin:members_member_process_import"),
        {name: form[name].value() for name in form.fields},
    )


@pytest.mark.django_db
def test_the_confirmation_queues_a_run_and_its_page_follows_it_to_the_end(
    clerk_client, clerk, office, queued
):
    lines = [MEMBER_HEADER, member_line(my_number="983205673214"), member_line(number="2")]
    response = confirm(clerk_client, lines)
    assert response.status_code == 302
    [run_id] = queued
    assert response["Location"] == reverse("admin:members_member_import_run", args=[run_id])
    run = ImportRun.objects.get(pk=run_id)
    assert (run.status, run.user, run.resource) == (
        "queued",
        clerk,
        "members.resources.MemberResource",
    )
    waiting = clerk_client.get(response["Location"]).content.decode()
    assert "取込中… ファイルを確認しています。" in waiting
    assert 'http-equiv="refresh"' in waiting
    assert Member.objects.count() == 0  # nothing before the task

    run.rows_done, run.rows_total = 2_000, 6_000  # as ProgressWriter leaves it mid-way
    run.save()
    assert "取込中… 2,000 / 6,000 行" in clerk_client.get(response["Location"]).content.decode()
    run.rows_done = run.rows_total = 0
    run.save()

    import_run_execute(run_id=run_id)
    done = clerk_client.get(response["Location"]).content.decode()
    assert "加入者を取り込みました: 新規 2件、更新 0件、変更なし 0件。" in done
    assert 'http-equiv="refresh"' not in done
    assert "983205673214" not in done
    assert Member.objects.count() == 2
    assert MyNumber.objects.get(member__number="1").last4 == "3214"
    assert set(Member.history.values_list("history_user_id", flat=True)) == {clerk.pk}
    # A task delivered twice does not import twice.
    assert import_run_execute(run_id=run_id).status == "succeeded"
    assert Member.history.count() == 2


@pytest.mark.django_db
def test_a_run_that_finds_problems_shows_them_in_japanese_and_writes_nothing(
    clerk_client, office, queued
):
    response = confirm(clerk_client, [MEMBER_HEADER, member_line(), member_line(number="2")])
    office.delete()  # between the preview and the run
    import_run_execute(run_id=queued[0])
    page = clerk_client.get(response["Location"]).content.decode()
    assert "取り込めませんでした: 確認のあとでデータが変わり、2件の誤りが見つかりました。" in page
    assert "2行目 [symbol]: 記号「1001」の事業所が登録されていません。" in page
    assert "3行目 [symbol]" in page
    assert ImportRun.objects.get(pk=queued[0]).status == "failed"
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_another_persons_run_is_not_shown(clerk_client, supervisor_client, office, queued):
    response = confirm(clerk_client, [MEMBER_HEADER, member_line()])
    assert supervisor_client.get(response["Location"]).status_code == 403


@pytest.mark.django_db
def test_the_run_reports_progress_every_chunk(clerk_client, office, queued, monkeypatch):
    monkeypatch.setattr(insurer.imports.runs, "SET_CHUNK", 2)
    monkeypatch.setattr(insurer.imports.set_based, "SET_CHUNK", 2)
    calls = []
    original = ProgressWriter.__call__

    def spy(self, done, total):
        calls.append((done, total))
        original(self, done, total)

    monkeypatch.setattr(ProgressWriter, "__call__", spy)
    lines = [MEMBER_HEADER, *(member_line(number=str(n)) for n in range(1, 6))]
    confirm(clerk_client, lines)
    run = import_run_execute(run_id=queued[0])
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert (run.status, run.rows_done, run.rows_total) == ("succeeded", 5, 5)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite: one writer at a time")
@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_other_connections_while_the_import_is_open(
    office, monkeypatch, tmp_path
):
    """The page reads progress committed through the writer's own connection while the
    import's transaction (which writes the members) is still open."""
    from django.db import connections

    monkeypatch.setattr(insurer.imports.runs, "SET_CHUNK", 2)
    monkeypatch.setattr(insurer.imports.set_based, "SET_CHUNK", 2)
    run = recorded_import_run([MEMBER_HEADER, *(member_line(number=str(n)) for n in range(1, 6))])
    seen = []
    original = ProgressWriter.__call__

    def observe(self, done, total):
        original(self, done, total)
        reader = connections.create_connection("default")
        try:
            with reader.cursor() as cursor:
                cursor.execute(
                    "SELECT rows_done, (SELECT count(*) FROM members_member) "
                    "FROM insurer_importrun WHERE id = %s",
                    [run.pk],
                )
                seen.append(cursor.fetchone())
        finally:
            reader.close()

    monkeypatch.setattr(ProgressWriter, "__call__", observe)
    assert import_run_execute(run_id=run.pk).status == "succeeded"
    # Progress is seen at once; the members only once the import commits.
    assert seen == [(0, 0), (2, 0), (4, 0), (5, 0)]
    assert Member.objects.count() == 5


def upload_exists(run: ImportRun) -> bool:
    return os.path.exists(EncryptedTempStorage(name=run.upload_name).get_full_path())


@pytest.mark.django_db
def test_a_run_left_running_by_a_dead_worker_says_so_and_its_upload_is_removed(
    clerk_client, office, queued
):
    response = confirm(clerk_client, [MEMBER_HEADER, member_line(my_number="983205673214")])
    run = ImportRun.objects.get(pk=queued[0])
    ImportRun.objects.filter(pk=run.pk).update(status="running")  # then its worker died
    assert upload_exists(run)

    page = clerk_client.get(response["Location"]).content.decode()
    assert ABANDONED in page
    assert 'http-equiv="refresh"' not in page
    run.refresh_from_db()
    assert (run.status, run.problems, run.finished_at is not None) == ("failed", [ABANDONED], True)
    assert not upload_exists(run)
    # The task delivered again afterwards imports nothing.
    assert import_run_execute(run_id=run.pk).status == "failed"
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_a_run_whose_worker_is_alive_stays_running(clerk_client, office, queued):
    response = confirm(clerk_client, [MEMBER_HEADER, member_line()])
    run = ImportRun.objects.get(pk=queued[0])
    ImportRun.objects.filter(pk=run.pk).update(status="running", rows_total=6_000)
    with held_elsewhere(LOCK_KIND, run.pk):  # the worker, importing
        page = clerk_client.get(response["Location"]).content.decode()
        assert "取込中… 0 / 6,000 行" in page
        assert 'http-equiv="refresh"' in page
        # A second delivery of the task while the first runs leaves it alone.
        assert import_run_execute(run_id=run.pk).status == "running"
    run.refresh_from_db()
    assert run.status == "running"
    assert upload_exists(run)
