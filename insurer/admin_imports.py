"""The admin's import screens with the same guarantees as the `import` command.

django-import-export's admin leaves the uploaded file (kept encrypted between preview
and confirmation) behind when the preview finds problems, when the confirmation fails,
and when nobody confirms; it answers a file it cannot read with the exception's class
name. ``StrictImportMixin`` goes first in an admin's bases.
"""

import os

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from import_export.admin import ImportMixin

from .imports import CSV, EncryptedTempStorage
from .imports.runs import import_run_create, import_run_release_abandoned
from .models import ImportRun
from .tasks import import_file

CONFIRM_FAILED = (
    "取り込めませんでした: 確認のあとでデータが変わり、{count}件の誤りが見つかりました。"
    "何も書き込んでいません。もう一度ファイルを選んで確認してください。"
)
RUN_WAITING = "取込中… ファイルを確認しています。"
RUN_PROGRESS = "取込中… {done:,} / {total:,} 行"
RUN_DONE = "{name}を取り込みました: 新規 {new:,}件、更新 {update:,}件、変更なし {skip:,}件。"
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

    def get_import_resource_kwargs(self, request, **kwargs):
        """The preview of a set-based resource (members, status) checks the whole file
        set-based and lists its first rows (insurer.imports.set_based.PREVIEW_ROWS): the
        library's per-row diff ran at about 75 rows/s on a 1,000,000-member register."""
        resource_kwargs = super().get_import_resource_kwargs(request, **kwargs)
        if getattr(request, "_import_preview", False):
            resource_kwargs["preview"] = True
        return resource_kwargs

    def import_action(self, request, **kwargs):
        """The preview: the upload is kept only while a confirmation form points at it."""
        EncryptedTempStorage.remove_abandoned()
        request._import_preview = True
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
        """The confirmation. A set-based resource (members, status) is imported in the
        background (``insurer.import_file``) and the clerk is sent to its progress page;
        other resources are imported here. The upload is removed whatever happens."""
        name = request.POST.get("import_file_name")
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if confirm_form.is_valid():
            resource_class = self.choose_import_resource_class(confirm_form, request)
            if getattr(resource_class, "set_based", False):
                return self.start_import_run(request, confirm_form, resource_class)
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            self.message_user(request, UPLOAD_GONE, messages.ERROR)
            return HttpResponseRedirect(self._import_url())
        finally:
            _remove_upload(name)

    def start_import_run(self, request, confirm_form, resource_class):
        name = confirm_form.cleaned_data["import_file_name"]
        storage = EncryptedTempStorage(name=name)
        if not EncryptedTempStorage.owns(name) or not os.path.exists(storage.get_full_path()):
            self.message_user(request, UPLOAD_GONE, messages.ERROR)
            return HttpResponseRedirect(self._import_url())
        input_format = self.get_import_formats()[int(confirm_form.cleaned_data["format"])]
        run = import_run_create(
            resource=f"{resource_class.__module__}.{resource_class.__qualname__}",
            upload_name=name,
            file_name=confirm_form.cleaned_data.get("original_file_name") or "",
            input_format="csv" if issubclass(input_format, CSV) else "xlsx",
            encoding=self.from_encoding,
            user=request.user,
        )
        import_file.delay(run.pk)  # the run is committed: a worker may start at once
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(
                f"admin:{opts.app_label}_{opts.model_name}_import_run",
                args=[run.pk],
                current_app=self.admin_site.name,
            )
        )

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "import/run/<int:run_id>/",
                self.admin_site.admin_view(self.import_run_view),
                name=f"{opts.app_label}_{opts.model_name}_import_run",
            ),
            *super().get_urls(),
        ]

    def import_run_view(self, request, run_id: int):
        """The progress of a confirmed import, then its outcome (the page refreshes itself
        until the run has finished)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ImportRun, pk=run_id)
        if run.user_id != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied
        run = import_run_release_abandoned(run)  # 取込中 with a dead worker: say so
        finished = run.status in (ImportRun.Status.SUCCEEDED, ImportRun.Status.FAILED)
        if run.status == ImportRun.Status.SUCCEEDED:
            result_text = RUN_DONE.format(name=self.opts.verbose_name, **run.counts)
        else:
            result_text = CONFIRM_FAILED.format(count=run.problems_total)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{self.opts.verbose_name}の取り込み",
            "opts": self.opts,
            "run": run,
            "finished": finished,
            "progress_text": (
                RUN_PROGRESS.format(done=run.rows_done, total=run.rows_total)
                if run.rows_total
                else RUN_WAITING
            ),
            "result_text": result_text,
            "more_problems": max(0, run.problems_total - len(run.problems)),
        }
        return TemplateResponse(request, "admin/insurer/import_run.html", context)
