from django.contrib import admin
from django.utils.html import format_html_join
from import_export.admin import ImportExportMixin

from . import admin_logins  # noqa: F401  (ログインのロック, issue 9)
from .admin_imports import StrictImportMixin
from .admin_utils import HistoryAdmin, JapaneseImportMixin, ReadOnlyAdminMixin
from .imports import EXPORT_FORMATS, IMPORT_FORMATS
from .models import Insurer, InsurerSettings, JobRun, Office
from .resources import InsurerResource, OfficeResource


@admin.register(Insurer)
class InsurerAdmin(JapaneseImportMixin, StrictImportMixin, ImportExportMixin, HistoryAdmin):
    resource_classes = [InsurerResource]
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    list_display = ("insurer_number", "name", "address", "phone")
    search_fields = ("=insurer_number", "name")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InsurerSettings)
class InsurerSettingsAdmin(HistoryAdmin):
    list_display = (
        "__str__",
        "certificate_validity_years",
        "lost_card_validity_months",
        "renewal_lead_days",
        "registration_deadline_days",
    )
    fieldsets = (
        (
            "資格確認書の有効期間",
            {
                "fields": (
                    "certificate_validity_years",
                    "lost_card_validity_months",
                    "awaiting_registration_validity_months",
                    "push_certificates_valid_until",
                    "round_down_to_month_end",
                )
            },
        ),
        (
            "期限",
            {
                "fields": (
                    "renewal_lead_days",
                    "registration_deadline_days",
                    "return_deadline_days",
                )
            },
        ),
        ("登録用氏名", {"fields": ("name_substitutions",)}),
        ("個人番号", {"fields": ("my_number_retention_years",)}),
        (
            "郵送・様式・手数料",
            {
                "fields": (
                    "mailing_sort",
                    "undelivered_after_days",
                    "certificate_format",
                    "reissue_fee",
                )
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return False  # the single row is created by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Office)
class OfficeAdmin(JapaneseImportMixin, StrictImportMixin, ImportExportMixin, HistoryAdmin):
    resource_classes = [OfficeResource]
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    list_display = ("symbol", "name", "postal_code", "address", "phone")
    search_fields = ("=symbol", "^name")
    list_per_page = 50

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # members refer to offices by 記号; an office is never deleted


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the scheduled jobs did each night, for supervisors and auditors."""

    list_display = ("job", "run_date", "status", "trigger", "started_at", "finished_at", "summary")
    list_filter = ("job", "status", "run_date")
    date_hierarchy = "run_date"
    readonly_fields = ("counts_display",)
    fields = (
        "job",
        "run_date",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "note",
        "counts_display",
        "error",
    )

    @admin.display(description="件数")
    def summary(self, run: JobRun) -> str:
        counts = run.counts or {}
        if not counts:
            return run.note or "—"
        opened = sum((counts.get("opened") or {}).values())
        closed = sum((counts.get("closed") or {}).values())
        return f"発生 {opened}・解消 {closed}・75歳喪失 {counts.get('loss_at_75', 0)}"

    @admin.display(description="件数の内訳")
    def counts_display(self, run: JobRun) -> str:
        from members.flags import flag_label

        counts = run.counts or {}
        rows = []
        for label, key in (("発生", "opened"), ("解消", "closed")):
            for flag, number in (counts.get(key) or {}).items():
                rows.append((label, flag_label(flag), number))
        for key, label in (
            ("loss_at_75", "75歳到達による資格喪失"),
            ("certificates_expired", "期限切れの資格確認書"),
        ):
            if key in counts:
                rows.append(("", label, counts[key]))
        return format_html_join("", "<div>{} {}: {}件</div>", rows) or "—"
