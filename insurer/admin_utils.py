"""Admin pieces shared by every app: counting that stays cheap on a million rows."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin

# A filtered list stops counting here: a clerk narrows the search instead of paging on.
COUNT_LIMIT = 10_000


class LargeTablePaginator(Paginator):
    """Never COUNTs a whole large table.

    Unfiltered: PostgreSQL's planner estimate (pg_class.reltuples). Filtered: an exact
    count up to COUNT_LIMIT, read through LIMIT so the database stops early.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = self._estimate(queryset.model)
            if estimate is not None and estimate > COUNT_LIMIT:
                return estimate
        return queryset.order_by()[: COUNT_LIMIT + 1].count()

    @staticmethod
    def _estimate(model) -> int | None:
        connection = connections[model.objects.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] > 0 else None


class ReadOnlyAdminMixin:
    """For append-only records: nobody adds, edits or deletes them in the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HistoryAdmin(SimpleHistoryAdmin):
    """simple-history's admin, read-only for history.

    SIMPLE_HISTORY_REVERT_DISABLED only hides the revert button: a POST to a history
    record would still write the old values back, around the services. Refuse it.
    """

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("変更履歴から元に戻すことはできません。")
        return super().history_form_view(request, object_id, version_id, extra_context)


class OfficeSymbolFilter(admin.SimpleListFilter):
    """A box for the 記号: a list of thousands of offices would help nobody.

    Filters `symbol_field` (the member's office_id, or a certificate's printed symbol).
    """

    title = "事業所（記号）"
    parameter_name = "symbol"
    template = "admin/members/input_filter.html"
    symbol_field = "office_id"

    def lookups(self, request, model_admin):
        return (("", ""),)

    def queryset(self, request, queryset):
        symbol = (self.value() or "").strip()
        return queryset.filter(**{self.symbol_field: symbol}) if symbol else queryset

    def choices(self, changelist):
        hidden = [
            (key, value)
            for key, values in changelist.get_filters_params().items()
            if key != self.parameter_name
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {"value": self.value() or "", "parameter_name": self.parameter_name, "hidden": hidden}


def error_text(error: ValidationError | PermissionDenied) -> str:
    return " ".join(getattr(error, "messages", None) or [str(error)])


def run_for_each(modeladmin, request, queryset, service, success: str) -> None:
    """An admin action's body: `service(item)` for each selected item, reporting the
    successes and each refusal (a ValidationError or PermissionDenied) in Japanese."""
    done = 0
    for item in queryset:
        try:
            service(item)
            done += 1
        except (ValidationError, PermissionDenied) as error:
            modeladmin.message_user(request, f"{item}: {error_text(error)}", messages.ERROR)
    if done:
        modeladmin.message_user(request, success.format(count=done), messages.SUCCESS)
