"""Admin pieces shared by every app: counting that stays cheap on a million rows."""

from datetime import date, datetime

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from .history import person_label
from .imports import import_problems

# A filtered list stops counting here: a clerk narrows the search instead of paging on.
COUNT_LIMIT = 10_000


class LargeTablePaginator(Paginator):
    """Never COUNTs a whole large table.

    Unfiltered: PostgreSQL's planner estimate (pg_class.reltuples). Filtered: an exact
    count up to COUNT_LIMIT, read through LIMIT so the database stops early.
    """

    estimated = False  # count is the planner's estimate (unfiltered)
    capped = False  # count stopped at COUNT_LIMIT + 1 (filtered): there are more

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = self._estimate(queryset.model)
            if estimate is not None and estimate > COUNT_LIMIT:
                self.estimated = True
                return estimate
        count = queryset.order_by()[: COUNT_LIMIT + 1].count()
        self.capped = count > COUNT_LIMIT
        return count

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


class JapaneseImportMixin:
    """The admin import in Japanese: each problem as 「N行目 [列]: 理由」 (line 1 is the
    header, as the `import` command counts), the preview's columns by their Japanese
    names, and a Japanese success message. Put it before ImportExportMixin."""

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is not None:
            form = context["form"]
            resource = self.choose_import_resource_class(form, request)(
                **self.get_import_resource_kwargs(request, form=form)
            )
            context["problems"] = import_problems(result, resource)
            context["column_labels"] = [
                column_label(resource, header) for header in result.diff_headers
            ]
        context["title"] = f"{self.opts.verbose_name}の取り込み"
        return response

    def process_import(self, request, **kwargs):
        response = super().process_import(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context is not None:
            context["title"] = f"{self.opts.verbose_name}の取り込み"
        return response

    def add_success_message(self, result, request) -> None:
        totals = result.totals
        messages.success(
            request,
            f"{self.opts.verbose_name}を取り込みました: 新規 {totals['new']:,}件、"
            f"更新 {totals['update']:,}件、変更なし {totals['skip']:,}件。",
        )


def column_label(resource, header: str) -> str:
    """A file column by the model field's Japanese name, with the column itself."""
    for field in resource.get_import_fields():
        if field.column_name == header and field.attribute:
            try:
                label = resource._meta.model._meta.get_field(field.attribute).verbose_name
            except FieldDoesNotExist:  # a column that is not a model field (my_number)
                return header
            return f"{label}（{header}）"
    return header


EMPTY = "（なし）"


class JapaneseHistoryContext(HistoricalRecordContextHelper):
    """History diffs as a clerk reads them: choice labels, はい/いいえ, people by name,
    （なし） for an empty value — never raw codes or "Deleted ユーザー (pk=None)"."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if isinstance(value, DeletedObject):
            return EMPTY if value.pk is None else f"削除された{value.model._meta.verbose_name}"
        if value is None or value == "":
            return EMPTY
        if isinstance(value, get_user_model()):
            return person_label(value)
        if isinstance(field, models.BooleanField):
            return "はい" if value else "いいえ"
        if field.choices:
            return str(dict(field.flatchoices).get(value, value))
        if isinstance(value, datetime):
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, date):
            return value.isoformat()
        return super().prepare_delta_change_value(change, value)


class HistoryAdmin(SimpleHistoryAdmin):
    """simple-history's admin, in Japanese and read-only for history.

    SIMPLE_HISTORY_REVERT_DISABLED only hides the revert button: a POST to a history
    record would still write the old values back, around the services. Refuse it.
    """

    def get_historical_record_context_helper(self, request, historical_record):
        return JapaneseHistoryContext(self.model, historical_record)

    def history_view_title(self, request, obj) -> str:
        return f"変更履歴: {obj}"

    def history_form_view_title(self, request, obj) -> str:
        return f"過去の記録: {obj}"

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("変更履歴から元に戻すことはできません。")
        request.is_history_view = True  # a past version is read, never typed into
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if getattr(request, "is_history_view", False):
            # Every model field (not get_fieldsets: by default it builds the form, which
            # asks for the read-only fields again).
            opts = self.model._meta
            return [*readonly, *(f.name for f in (*opts.fields, *opts.many_to_many))]
        return readonly


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


def person_column(field: str, description: str):
    """A list column or read-only field naming a user by full name (not the login)."""

    @admin.display(description=description, ordering=field)
    def column(self, obj) -> str:
        user = getattr(obj, field)
        return person_label(user) if user is not None else "—"

    column.__name__ = f"{field}_name"
    return column


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
