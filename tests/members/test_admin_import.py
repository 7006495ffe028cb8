"""The admin's import screens: the same refusals as the command, no file left behind."""

import os
import re
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from insurer.imports import EncryptedTempStorage
from members.models import Member
from tests.importing import MEMBER_HEADER, member_line

TWELVE_DIGITS = re.compile(r"[0-9]{12}")
IMPORT_URL = "admin:members_member_import"


def uploads() -> set[str]:
    return {
        n
        for n in os.listdir(EncryptedTempStorage.directory())
        if n.startswith(EncryptedTempStorage.PREFIX)
    }


def upload(client, lines, name="members.csv"):
    data = ("\r\n".join(lines) + "\r\n").encode()
    return client.post(
        reverse(IMPORT_URL),
        {"format": "0", "import_file": SimpleUploadedFile(name, data, "text/csv")},
    )


@pytest.mark.django_db
def test_a_failed_preview_shows_japanese_problems_and_leaves_no_file(clerk_client, office):
    before = uploads()
    response = upload(
        clerk_client,
        [
            MEMBER_HEADER,
            member_line(address="東京都983205673214"),
            member_line(number="2").replace(",1980-05-05,", "1980-05-05,"),
        ],
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "個人番号と思われる12桁の数字があります" in html
    assert "列の数が見出し（22列）と合いません（21列）" in html
    assert not TWELVE_DIGITS.search(html)
    assert uploads() == before
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_a_header_problem_is_shown_and_no_file_is_left(clerk_client, office):
    before = uploads()
    response = upload(clerk_client, [MEMBER_HEADER.replace("my_number", "my_numbr"), member_line()])
    html = response.content.decode()
    assert "知らない列があります: my_numbr" in html
    assert uploads() == before


@pytest.mark.django_db
def test_a_confirmed_import_removes_the_file_and_a_second_confirm_is_a_message(
    clerk_client, office
):
    before = uploads()
    response = upload(clerk_client, [MEMBER_HEADER, member_line(my_number="983205673214")])
    confirm = response.context["confirm_form"]
    waiting = uploads() - before
    assert len(waiting) == 1
    assert b"983205673214" not in Path(EncryptedTempStorage.directory(), *waiting).read_bytes()
    data = {name: confirm[name].value() for name in confirm.fields}
    url = reverse("admin:members_member_process_import")
    assert clerk_client.post(url, data).status_code == 302
    assert Member.objects.count() == 1
    assert uploads() == before
    again = clerk_client.post(url, data, follow=True)
    assert again.status_code == 200
    assert "確認待ちのファイルが見つかりません" in again.content.decode()


@pytest.mark.django_db
def test_an_abandoned_preview_is_removed_after_two_hours(clerk_client, office):
    response = upload(clerk_client, [MEMBER_HEADER, member_line()])
    name = response.context["confirm_form"]["import_file_name"].value()
    path = Path(EncryptedTempStorage.directory(), name)
    assert path.exists()
    old = time.time() - EncryptedTempStorage.UPLOAD_MAX_AGE - 60
    os.utime(path, (old, old))
    upload(clerk_client, [MEMBER_HEADER.replace("my_number", "x"), member_line()])
    assert not path.exists()


@pytest.mark.django_db
def test_a_confirmation_that_finds_problems_says_so_and_writes_nothing(clerk_client, office):
    before = uploads()
    response = upload(clerk_client, [MEMBER_HEADER, member_line()])
    confirm = response.context["confirm_form"]
    data = {name: confirm[name].value() for name in confirm.fields}
    office.delete()  # between the preview and the confirmation
    page = clerk_client.post(
        reverse("admin:members_member_process_import"), data, follow=True
    ).content.decode()
    assert "取り込めませんでした: 確認のあとでデータが変わり、1件の誤りが見つかりました。" in page
    assert 'class="success"' not in page  # the library said "finished" here
    assert Member.objects.count() == 0
    assert uploads() == before
