from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Q, Value, When
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from import_export.admin import ExportMixin

from insurer.admin_utils import HistoryAdmin, person_column, run_for_each
from insurer.history import save_with_history
from insurer.imports import EXPORT_FORMATS, FORMATS_BY_NAME
from members.admin_mixins import MemberSearchMixin

from .models import Category, Incident, Inquiry
from .resources import InquiryResource, monthly_report
from .services import incident_close, incident_review, inquiry_log


@admin.register(Category)
class CategoryAdmin(HistoryAdmin):
    list_display = ("name", "order", "opens_incident", "is_active")
    list_editable = ("order",)
    ordering = ("order",)
    fields = ("name", "code", "order", "opens_incident", "is_active", "guidance")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # inquiries refer to their category; set it inactive instead


class OpenFilter(admin.SimpleListFilter):
    title = "状態（まとめ）"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return (("yes", "完了以外（対応中・回答待ち）"),)

    def queryset(self, request, queryset):
        return queryset.exclude(status=Inquiry.Status.CLOSED) if self.value() == "yes" else queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "フォローアップ"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", "期日超過"),)

    def queryset(self, request, queryset):
        return (
            queryset.filter(overdue_since__isnull=False).exclude(status=Inquiry.Status.CLOSED)
            if self.value() == "yes"
            else queryset
        )


class MineFilter(admin.SimpleListFilter):
    title = "担当"
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return (("yes", "自分の担当"), ("overdue", "自分の担当で期日超過"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(handler=request.user)
        if self.value() == "overdue":
            return queryset.filter(handler=request.user, overdue_since__isnull=False).exclude(
                status=Inquiry.Status.CLOSED
            )
        return queryset


@admin.register(Inquiry)
class InquiryAdmin(MemberSearchMixin, ExportMixin, HistoryAdmin):
    resource_classes = [InquiryResource]
    export_formats = EXPORT_FORMATS
    list_display = (
        "received_at",
        "category",
        "member",
        "caller_role",
        "channel",
        "status",
        "follow_up_on",
        "overdue",
        "handler_name",
    )
    list_filter = (
        MineFilter,
        OpenFilter,
        OverdueFilter,
        "status",
        "category",
        "channel",
        "caller_role",
        "received_at",
    )
    list_select_related = ("category", "member", "handler")
    # Chosen by member and kind (typed 記号・番号 or kana), never by a raw id.
    autocomplete_fields = ("member", "application", "lost_card_case")
    show_facets = ShowFacets.NEVER
    date_hierarchy = "received_at"
    change_form_template = "admin/inquiries/inquiry/change_form.html"
    change_list_template = "admin/inquiries/inquiry/change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("received_at", "channel", "caller_role"),
                    "member",
                    "caller_name",
                    "category",
                )
            },
        ),
        ("内容", {"fields": ("question", "answer")}),
        (
            "対応",
            {
                "fields": (
                    ("status", "follow_up_on"),
                    "handler_name",
                    "application",
                    "lost_card_case",
                )
            },
        ),
    )
    readonly_fields = ("handler_name",)
    handler_name = person_column("handler", "担当者")

    @admin.display(description="期日超過", boolean=True)
    def overdue(self, inquiry: Inquiry) -> bool:
        return inquiry.overdue_since is not None and inquiry.status != Inquiry.Status.CLOSED

    def get_queryset(self, request):
        """The user's own overdue follow-ups first, then the rest, newest first."""
        mine_overdue = Case(
            When(
                Q(handler=request.user, overdue_since__isnull=False)
                & ~Q(status=Inquiry.Status.CLOSED),
                then=Value(0),
            ),
            default=Value(1),
            output_field=IntegerField(),
        )
        # Annotate before ordering (ModelAdmin.get_queryset orders by get_ordering()).
        queryset = self.model._default_manager.get_queryset().annotate(mine_overdue=mine_overdue)
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ("mine_overdue", "-received_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.filter(is_active=True).order_by("order")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("received_at", timezone.now())
        return initial

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["guidance"] = {
            str(pk): {"name": str(category), "guidance": guidance}
            for pk, category, guidance in (
                (c.pk, c, c.guidance)
                for c in Category.objects.filter(is_active=True).order_by("order")
            )
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        inquiry_log(inquiry=obj, user=request.user)
        if obj.category.opens_incident and not change:
            messages.warning(
                request, "インシデントを開きました。管理者に当日中の確認を依頼してください。"
            )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "report/<str:file_format>/",
                self.admin_site.admin_view(self.report_view),
                name="inquiries_inquiry_report",
            ),
            *super().get_urls(),
        ]

    def report_view(self, request, file_format: str):
        """Inquiries by month and category, for management reporting (CSV or XLSX)."""
        if (
            not request.user.has_perm("inquiries.export_inquiry")
            or file_format not in FORMATS_BY_NAME
        ):
            raise PermissionDenied
        export_format = FORMATS_BY_NAME[file_format]()
        content = export_format.export_data(monthly_report())
        if not export_format.is_binary():
            content = content.encode("utf-8-sig")
        response = HttpResponse(content, content_type=export_format.get_content_type())
        response["Content-Disposition"] = (
            f'attachment; filename="inquiries-by-month.{export_format.get_extension()}"'
        )
        return response


class ReviewedFilter(admin.SimpleListFilter):
    title = "管理者の確認"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return (("no", "未確認"), ("yes", "確認済"))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(reviewed_at__isnull=self.value() == "no")
        return queryset


@admin.register(Incident)
class IncidentAdmin(HistoryAdmin):
    list_display = (
        "__str__",
        "member",
        "opened_on",
        "status",
        "reviewed_by",
        "reviewed_at",
        "escalated_on",
    )
    list_filter = ("status", ReviewedFilter, "opened_on")
    list_select_related = ("member", "reviewed_by")
    raw_id_fields = ("inquiry", "member")
    actions = ["review", "close"]
    fieldsets = (
        (None, {"fields": ("inquiry", "member", "opened_on", "status")}),
        (
            "管理者",
            {"fields": ("reviewed_by", "reviewed_at", "escalated_on", "closed_by", "closed_at")},
        ),
        (
            "対応の記録",
            {"fields": ("held_on", "rechecked_on", "corrected_on", "member_notified_on", "note")},
        ),
    )
    readonly_fields = (
        "inquiry",
        "opened_on",
        "status",
        "reviewed_by",
        "reviewed_at",
        "escalated_on",
        "closed_by",
        "closed_at",
    )

    def has_add_permission(self, request) -> bool:
        return False  # incidents open from an inquiry in the urgent category

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("inquiries.review_incident")

    def save_model(self, request, obj, form, change) -> None:
        steps = "、".join(str(Incident._meta.get_field(f).verbose_name) for f in form.changed_data)
        save_with_history(
            obj, reason=f"対応を記録: {steps}" if steps else "変更なし", user=request.user
        )

    @admin.action(description="管理者として確認した", permissions=["review"])
    def review(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda i: incident_review(incident=i, user=request.user),
            "{count}件を確認済みにしました。",
        )

    @admin.action(description="終了する", permissions=["review"])
    def close(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda i: incident_close(incident=i, user=request.user),
            "{count}件を終了しました。",
        )
