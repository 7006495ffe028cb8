"""The admin's import screens with the same guarantees as the `import` command.

django-import-export's admin leaves the uploaded file (kept encrypted between preview
and confirmation) behind when the preview finds problems, when the confirmation fails,
and when nobody confirms; it answers a file it cannot read with the exception's class
name. ``StrictImportMixin`` goes first in an admin's bases.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from import_export.admin import ImportMixin

from .imports import EncryptedTempStorage

CONFIRM_FAILED = (
    "取り込めませんでした: 確認のあとでデータが変わり、{count}件の誤りが見つかりました。"
    "何も書き込んでいません。もう一度ファイルを選んで確認してください。"
)
UPLOAD_GONE = (
    "確認待ちのファイルが見つかりません（時間切れか、すでに取り込み済みです）。"
    "もう一度ファイルを選んでください。"
)


def _remove_upload(name: str | None) -> None:
    if EncryptedTempStorage.owns(name):
        EncryptedTempStorage(name=name).remove()


class StrictImportMixin(ImportMixin):
    def add_data_read_fail_error_to_form(self, form, e) -> None:
        message = str(e) if isinstance(e, ValueError) and str(e) else ""
        form.add_error(
            "import_file", message or f"ファイルを読み取れません（{type(e).__name__}）。"
        )

    def import_action(self, request, **kwargs):
        """The preview: the upload is kept only while a confirmation form points at it."""
        EncryptedTempStorage.remove_abandoned()
        waiting = False
        try:
            response = super().import_action(request, **kwargs)
            waiting = "confirm_form" in (getattr(response, "context_data", None) or {})
            return response
        finally:
            if not waiting:
                upload = request.FILES.get("import_file")
                _remove_upload(getattr(upload, "tmp_storage_name", None))

    def process_result(self, result, request):
        """After the confirmation: the library would report success even for an import
        that found problems (and wrote nothing)."""
        if result.has_errors() or result.has_validation_errors():
            count = len(result.base_errors) + len(result.invalid_rows) + len(result.row_errors())
            self.message_user(request, CONFIRM_FAILED.format(count=count), messages.ERROR)
            return HttpResponseRedirect(self._import_url())
        return super().process_result(result, request)

    def _import_url(self) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_import", current_app=self.admin_site.name
        )

    def process_import(self, request, **kwargs):
        """The confirmation: the upload is removed whatever happens."""
        name = request.POST.get("import_file_name")
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            self.message_user(request, UPLOAD_GONE, messages.ERROR)
            return HttpResponseRedirect(self._import_url())
        finally:
            _remove_upload(name)
