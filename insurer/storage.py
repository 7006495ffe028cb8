"""Where files with personal data are kept: outside any public URL.

Batch PDFs and mailing lists are written here and read back only through
certificates.views (role checked, each download logged). The storage has no base URL,
so ``file.url`` raises instead of pointing at a path a web server might serve.
"""

import os
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponse
from django.utils.deconstruct import deconstructible
from django.utils.http import content_disposition_header


@deconstructible
class PrivateStorage(FileSystemStorage):
    def __init__(self) -> None:
        super().__init__(base_url=None)

    @property
    def base_location(self) -> str:  # read each time: tests point it at a temporary folder
        return str(settings.PRIVATE_FILES_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    @property
    def base_url(self) -> None:
        return None

    def url(self, name: str | None) -> str:
        raise ValueError("非公開のファイルにはURLがありません（ダウンロード画面から取得します）。")


private_storage = PrivateStorage()


def private_storage_callable() -> PrivateStorage:
    return private_storage


def private_file_response(name: str, *, filename: str, content_type: str) -> HttpResponse:
    """Send a private file: the bytes with FileResponse, or, behind nginx with
    PROTECTED_DOWNLOADS_ACCEL_PREFIX set, an X-Accel-Redirect to its internal location
    (the proxy sends the file; the permission check and the log have already happened)."""
    prefix = settings.PROTECTED_DOWNLOADS_ACCEL_PREFIX
    disposition = content_disposition_header(as_attachment=True, filename=filename)
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(name)
        response["Content-Disposition"] = disposition
    else:
        response = FileResponse(
            private_storage.open(name, "rb"), content_type=content_type, as_attachment=True
        )
        response["Content-Disposition"] = disposition
    response["Cache-Control"] = "private, no-store"
    return response
