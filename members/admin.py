from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from import_export.admin import ExportMixin, ImportExportMixin

from insurer.admin_imports import StrictImportMixin
from insurer.admin_utils import (
    HistoryAdmin,
    JapaneseImportMixin,
    LargeTablePaginator,
    OfficeSymbolFilter,
    ReadOnlyAdminMixin,
    person_column,
    run_for_each,
)
from insurer.imports import EXPORT_FORMATS, IMPORT_FORMATS
from insurer.selectors import insurer_settings_get

from .admin_mixins import MemberSearchMixin
from .flags import open_flags_for
from .models import NUMERIC_KEY_ORDER, Flag, Member, MynaStatus, MyNumberAccessLog
from .resources import FlagResource, MemberResource, MynaStatusResource
from .rules import (
    MYNA_STATES,
    my_number_error,
    myna_state,
    normalize_kana,
    unregistrable_characters,
)
from .selectors import (
    MYNA_STATE_FILTERS,
    member_household,
    member_ids_with_open_lost_case,
    member_records,
    member_search_in_key_order,
    members_active_on,
    members_inactive_on,
    my_number_in_use,
    my_number_masked,
    myna_state_label,
    registered_name_proposal_for,
)
from .services import (
    MY_NUMBER_IN_USE,
    member_confirm_registered_name,
    member_save,
    member_validate_household,
    my_number_register,
    my_number_reveal,
    myna_status_undo_future_as_of,
)

MY_NUMBER_RETYPE = (
    "確認のため、個人番号はもう一度入力してください（入力された番号は画面に再表示しません）。"
)
STALE_SAVE = (
    "この加入者は、画面を開いた後に別の人が保存しています（{at} 更新）。"
    "保存しませんでした。画面を開き直して、最新の内容に変更をやり直してください。"
)


class MyNumberInput(forms.TextInput):
    """Typed in the clear, never written back into the page: after a validation error
    the number is not in the HTML (issue 9)."""

    def format_value(self, value):
        return None


class ActiveTodayFilter(admin.SimpleListFilter):
    title = "資格（本日時点）"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return (("yes", "資格あり"), ("no", "資格なし（喪失済など）"))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "yes":
            return members_active_on(queryset, today)
        if self.value() == "no":
            return members_inactive_on(queryset, today)
        return queryset


class MynaStateFilter(admin.SimpleListFilter):
    title = "マイナ保険証"
    parameter_name = "myna"

    def lookups(self, request, model_admin):
        return tuple(MYNA_STATES.items())

    def queryset(self, request, queryset):
        condition = MYNA_STATE_FILTERS.get(self.value())
        return queryset.filter(condition) if condition is not None else queryset


class MemberAdminForm(forms.ModelForm):
    my_number = forms.CharField(
        label="個人番号（登録・変更するときだけ入力）",
        required=False,
        max_length=20,
        widget=MyNumberInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text="12桁。保存後は下4桁だけが表示されます。",
    )
    # The 更新日時 the form was opened with: a save over someone else's is refused.
    loaded_updated_at = forms.CharField(required=False, widget=forms.HiddenInput)
    change_reason = forms.CharField(
        label="変更理由",
        required=False,
        max_length=200,
        help_text="変更履歴に残ります（例: 氏名変更届による）。",
    )

    # No Meta: the admin builds the form for Member from its fieldsets.

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["loaded_updated_at"] = self.instance.updated_at.isoformat()

    def clean_family_name_kana(self) -> str:
        return normalize_kana(self.cleaned_data["family_name_kana"])

    def clean_given_name_kana(self) -> str:
        return normalize_kana(self.cleaned_data["given_name_kana"])

    def clean_my_number(self) -> str:
        value = self.cleaned_data.get("my_number", "").strip()
        if value:
            error = my_number_error(value)
            if error:
                raise ValidationError(error)
            if my_number_in_use(value=value, member=self.instance):
                raise ValidationError(MY_NUMBER_IN_USE)
        return value

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and cleaned.get("loaded_updated_at") != (
            self.instance.updated_at.isoformat()
        ):
            at = timezone.localtime(self.instance.updated_at)
            raise ValidationError(STALE_SAVE.format(at=f"{at:%Y-%m-%d %H:%M:%S}"))
        if not self.errors:
            candidate = Member(
                office=cleaned.get("office"),
                number=cleaned.get("number"),
                relationship=cleaned.get("relationship"),
            )
            try:
                member_validate_household(candidate)
            except ValidationError as error:
                self.add_error("relationship", error.message_dict["relationship"])
        return cleaned


class MemberChangeList(ChangeList):
    """The member list, with MY-2's lost-card condition read for the page's rows in one
    query (an annotation would run it inside the capped count too)."""

    def get_results(self, request) -> None:
        super().get_results(request)
        lost = member_ids_with_open_lost_case([member.pk for member in self.result_list])
        for member in self.result_list:
            member.has_open_lost_case = member.pk in lost


@admin.register(Member)
class MemberAdmin(JapaneseImportMixin, StrictImportMixin, ImportExportMixin, HistoryAdmin):
    form = MemberAdminForm
    resource_classes = [MemberResource]
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    list_display = (
        "key_display",
        "full_name_display",
        "full_name_kana_display",
        "relationship",
        "birth_date",
        "office_name",
        "myna_state_display",
        "lost_on",
    )
    list_display_links = ("key_display", "full_name_display")
    list_select_related = ("office", "myna_status")
    list_filter = ("relationship", ActiveTodayFilter, MynaStateFilter, OfficeSymbolFilter)
    search_fields = ("kana_search",)  # only to show the box; member_search does the work
    search_help_text = (
        "記号・番号・枝番（例: 1001-12-01）、カナ（ひらがな・半角可）、"
        "または氏名の先頭で検索します。"
    )
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    list_per_page = 50
    ordering = NUMERIC_KEY_ORDER  # 1001-2 before 1001-10, served by member_numeric_key
    autocomplete_fields = ("office",)
    readonly_fields = ("created_at", "updated_at")
    change_form_template = "admin/members/member/change_form.html"
    base_fieldsets = (
        ("記号・番号", {"fields": ("office", "number", "branch", "relationship")}),
        (
            "氏名",
            {
                "fields": (
                    ("family_name", "given_name"),
                    ("family_name_kana", "given_name_kana"),
                    ("registered_family_name", "registered_given_name"),
                )
            },
        ),
        ("本人情報", {"fields": ("birth_date", "sex", "postal_code", "address")}),
        (
            "資格",
            {
                "fields": (
                    "acquired_on",
                    "lost_on",
                    "loss_reason",
                    "voluntary_until",
                    "residence_expires_on",
                )
            },
        ),
        ("一部負担金", {"fields": ("standard_monthly_remuneration", "has_income_reduction")}),
        (
            "届出・登録",
            {"fields": ("notified_on", "oqs_registered_on", "is_certificate_requested")},
        ),
    )

    @admin.display(description="記号-番号-枝番", ordering="office_id")
    def key_display(self, member: Member) -> str:
        return member.key

    @admin.display(description="氏名", ordering="name_search")
    def full_name_display(self, member: Member) -> str:
        return member.full_name

    @admin.display(description="カナ", ordering="kana_search")
    def full_name_kana_display(self, member: Member) -> str:
        return member.full_name_kana

    @admin.display(description="事業所")
    def office_name(self, member: Member) -> str:
        return member.office.name

    @admin.display(description="マイナ保険証")
    def myna_state_display(self, member: Member) -> str:
        status = getattr(member, "myna_status", None)
        state = myna_state(
            card=status.card if status else None,
            registration=status.registration if status else None,
            is_dereg_requested=bool(status and status.is_dereg_requested),
        )
        if getattr(member, "has_open_lost_case", False):  # MY-2: not usable while lost
            return f"{MYNA_STATES[state]}・紛失対応中（利用できない）"
        return MYNA_STATES[state]

    def get_changelist(self, request, **kwargs):
        return MemberChangeList

    def get_search_results(self, request, queryset, search_term):
        # The list and the autocomplete (inquiries, applications…) both come here.
        return member_search_in_key_order(queryset, search_term), False

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(self.base_fieldsets)
        if getattr(request, "is_history_view", False):  # a past version: the record only
            return fieldsets
        if self.has_change_permission(request, obj) or (
            obj is None and self.has_add_permission(request)
        ):
            extra = ["change_reason"]
            if request.user.has_perm("members.change_mynumber"):
                extra.insert(0, "my_number")
            if obj is not None:
                extra.append("loaded_updated_at")  # hidden: the stale-save check
            fieldsets.append(("個人番号・変更理由", {"fields": extra}))
        if obj is not None:
            fieldsets.append(("記録", {"fields": ("created_at", "updated_at")}))
        return fieldsets

    @method_decorator(sensitive_post_parameters("my_number"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            # The form was valid, the service refused at the last moment (the same number
            # saved for someone else in between): nothing was saved, no 500.
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(request.get_full_path())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        typed = form.is_bound and "my_number" in form.fields and form.data.get("my_number")
        if typed and form.errors:
            form.add_error("my_number", MY_NUMBER_RETYPE)  # it is not shown again
        return super().render_change_form(request, context, add, change, form_url, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The clerk's hub: status with MY-2's answer, certificates, open flags,
        lost-card cases, applications and inquiries, each with its next step."""
        member = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if member is not None:
            status = getattr(member, "myna_status", None)
            label, usable = myna_state_label(
                status,
                timezone.localdate(),
                has_open_lost_case=member.lost_card_cases.filter(status="open").exists(),
            )
            extra_context.update(
                household=member_household(member=member),
                myna_status=status,
                myna_state_label=label,
                myna_usable=usable,
                my_number_masked=my_number_masked(member=member),
                can_reveal=request.user.has_perm("members.reveal_mynumber"),
                open_flags=open_flags_for(member=member),
                can_issue=request.user.has_perm("certificates.add_certificate"),
                can_add_case=request.user.has_perm("certificates.add_lostcardcase"),
                can_add_application=request.user.has_perm("certificates.add_application"),
                can_add_inquiry=request.user.has_perm("inquiries.add_inquiry"),
                today=timezone.localdate(),
                **member_records(member=member),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        reason = form.cleaned_data.get("change_reason") or (
            "管理画面で変更" if change else "管理画面で登録"
        )
        member_save(member=obj, user=request.user, reason=reason)
        number = form.cleaned_data.get("my_number")
        if number and request.user.has_perm("members.change_mynumber"):
            my_number_register(member=obj, value=number, user=request.user, reason=reason)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Members are never deleted: loss of membership is recorded with 資格喪失日.
        return request.user.is_superuser

    # --- My Number reveal -----------------------------------------------------------

    def get_urls(self):
        reveal = self.admin_site.admin_view(self.my_number_reveal_view)
        registered_name = self.admin_site.admin_view(self.registered_name_view)
        return [
            path("<int:object_id>/my-number/", reveal, name="members_member_my_number"),
            path(
                "<int:object_id>/registered-name/",
                registered_name,
                name="members_member_registered_name",
            ),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    @method_decorator(sensitive_post_parameters())
    def my_number_reveal_view(self, request, object_id: int):
        if not request.user.has_perm("members.reveal_mynumber"):
            raise PermissionDenied(
                "個人番号を表示できるのは管理者だけです（表示は理由とともに取扱記録に残ります）。"
            )
        member = get_object_or_404(Member.objects.select_related("my_number"), pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "member": member,
            "title": f"個人番号の表示: {member}",
            "masked": my_number_masked(member=member),
            "change_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        if request.method == "POST" and context["masked"]:
            try:
                with transaction.atomic():
                    context["revealed"] = my_number_reveal(
                        member=member,
                        user=request.user,
                        reason=request.POST.get("reason", ""),
                        ip_address=request.META.get("REMOTE_ADDR"),
                    )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
        response = TemplateResponse(request, "admin/members/member/my_number.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def registered_name_view(self, request, object_id: int):
        """ID-4: the clerk confirms the name the national system will hold, starting from
        the proposal (the insurer's substitution table, else the kana)."""
        member = get_object_or_404(Member, pk=object_id)
        if not self.has_change_permission(request, member):
            raise PermissionDenied("登録用氏名を確定する権限がありません。")
        proposal = registered_name_proposal_for(
            member=member, substitutions_text=insurer_settings_get().name_substitutions
        )
        form = RegisteredNameForm(
            request.POST or None,
            initial={
                "family_name": member.registered_family_name or proposal[0],
                "given_name": member.registered_given_name or proposal[1],
            },
        )
        change_url = reverse("admin:members_member_change", args=[member.pk])
        if request.method == "POST" and form.is_valid():
            try:
                member_confirm_registered_name(
                    member=member, user=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                messages.success(
                    request,
                    f"登録用氏名を「{member.printed_full_name}」に確定しました。"
                    "次の夜間処理で対応フラグが解消し、印字が変わる資格確認書は再交付の対象になります。",
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "member": member,
            "form": form,
            "title": f"登録用氏名の確定: {member}",
            "bad_characters": unregistrable_characters(member.family_name + member.given_name),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/members/member/registered_name.html", context)


class RegisteredNameForm(forms.Form):
    family_name = forms.CharField(label="登録用氏名（氏）", max_length=50)
    given_name = forms.CharField(label="登録用氏名（名）", max_length=50)


@admin.register(MynaStatus)
class MynaStatusAdmin(
    MemberSearchMixin, JapaneseImportMixin, StrictImportMixin, ExportMixin, HistoryAdmin
):
    """National data: imported, never typed in."""

    resource_classes = [MynaStatusResource]
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    list_display = (
        "member",
        "card",
        "registration",
        "ecert_expires_on",
        "dereg_requested_on",
        "as_of",
    )
    list_select_related = ("member",)
    list_filter = ("card", "registration", "as_of")
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    raw_id_fields = ("member",)
    actions = ["undo_future_as_of"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_correct_permission(self, request) -> bool:
        return request.user.has_perm("members.change_mynastatus")

    @admin.action(
        description="未来の基準日を取り消す（誤ったデータの修正）", permissions=["correct"]
    )
    def undo_future_as_of(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda status: myna_status_undo_future_as_of(
                status=status, today=timezone.localdate(), user=request.user
            ),
            "{count}件の未来の基準日を取り消しました。",
        )

    def process_result(self, result, request):
        response = super().process_result(result, request)
        stale = sum(1 for row in result.rows if row.import_type == row.IMPORT_TYPE_SKIP)
        if stale:
            messages.warning(
                request, f"基準日が登録済みのデータより古い {stale}行は適用しませんでした。"
            )
        return response


@admin.register(MyNumberAccessLog)
class MyNumberAccessLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "action", "member", "user_name", "reason", "ip_address")
    user_name = person_column("user", "操作者")
    list_filter = ("action", "at")
    list_select_related = ("member", "user")
    date_hierarchy = "at"
    raw_id_fields = ("member", "user")
    show_facets = ShowFacets.NEVER


class FlagStateFilter(admin.SimpleListFilter):
    """Open flags unless asked otherwise: the worklist is what is still to do."""

    title = "状態"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("closed", "解消済"), ("all", "すべて"))

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "対応中",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(closed_on__isnull=self.value() != "closed")


@admin.register(Flag)
class FlagAdmin(MemberSearchMixin, ReadOnlyAdminMixin, ExportMixin, admin.ModelAdmin):
    """The worklist the nightly job keeps (domain.md §9)."""

    resource_classes = [FlagResource]
    export_formats = EXPORT_FORMATS
    list_display = ("member_link", "member_name", "kind", "reason", "opened_on", "closed_on")
    list_filter = (FlagStateFilter, "kind", "reason", "opened_on")
    list_select_related = ("member",)
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    list_per_page = 100
    # No date_hierarchy: it would read every open flag for its DISTINCT dates.

    @admin.display(description="記号-番号-枝番", ordering="member__office_id")
    def member_link(self, flag: Flag) -> str:
        url = reverse("admin:members_member_change", args=[flag.member_id])
        return format_html('<a href="{}">{}</a>', url, flag.member.key)

    @admin.display(description="氏名")
    def member_name(self, flag: Flag) -> str:
        return flag.member.full_name
