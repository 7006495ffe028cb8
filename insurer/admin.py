from django.contrib import admin
from import_export.admin import ImportExportMixin

from .admin_utils import HistoryAdmin
from .imports import EXPORT_FORMATS, IMPORT_FORMATS
from .models import Insurer, InsurerSettings, Office
from .resources import InsurerResource, OfficeResource


@admin.register(Insurer)
class InsurerAdmin(ImportExportMixin, HistoryAdmin):
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
        ("個人番号", {"fields": ("my_number_retention_years",)}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # the single row is created by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Office)
class OfficeAdmin(ImportExportMixin, HistoryAdmin):
    resource_classes = [OfficeResource]
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    list_display = ("symbol", "name", "postal_code", "address", "phone")
    search_fields = ("=symbol", "^name")
    list_per_page = 50

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # members refer to offices by 記号; an office is never deleted
