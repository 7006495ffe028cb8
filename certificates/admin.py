import io
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export.admin import ExportMixin

from insurer.admin_utils import (
    HistoryAdmin,
    LargeTablePaginator,
    OfficeSymbolFilter,
    ReadOnlyAdminMixin,
    error_text,
    person_column,
    run_for_each,
)
from insurer.history import save_with_history
from insurer.imports import EXPORT_FORMATS
from insurer.selectors import insurer_settings_get
from insurer.storage import private_file_response
from members.admin_mixins import MemberSearchMixin
from members.models import Member
from members.rules import add_months, first_of_month, looks_like_kana, normalize_kana
from members.selectors import member_search

from .models import (
    PART_FILE_FIELDS,
    Application,
    BatchPart,
    Certificate,
    CertificatePrintLog,
    DownloadLog,
    Envelope,
    IssueBatch,
    LostCardCase,
    Notice,
)
from .pdf import document_label
from .rendering import _enqueue_render, batch_progress, batch_render_is_stalled
from .resources import CertificateResource
from .selectors import envelopes_undelivered, unreturned_certificates
from .services import (
    NOT_DECIDER,
    application_decide,
    application_receive,
    batch_file_download,
    batch_release,
    care_needs_end,
    certificate_issue_for_need,
    certificate_print_single,
    certificate_record_return,
    certificate_void,
    envelope_record_return,
    envelope_resolve,
    lost_card_case_close,
)


class CertificateSymbolFilter(OfficeSymbolFilter):
    symbol_field = "symbol"


class ExpiryMonthFilter(admin.SimpleListFilter):
    title = "有効期限の月"
    parameter_name = "expires"

    def lookups(self, request, model_admin):
        start = first_of_month(timezone.localdate())
        months = [add_months(start, offset) for offset in range(-1, 13)]
        return [(month.strftime("%Y-%m"), f"{month.year}年{month.month}月") for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        year, month = (int(part) for part in self.value().split("-"))
        start = date(year, month, 1)
        return queryset.filter(valid_until__gte=start, valid_until__lt=add_months(start, 1))


class ExpiresWithinFilter(admin.SimpleListFilter):
    title = "有効期限まで"
    parameter_name = "within"

    def lookups(self, request, model_admin):
        return (("30", "30日以内"), ("60", "60日以内"), ("90", "90日以内"))

    def queryset(self, request, queryset):
        if self.value() not in ("30", "60", "90"):
            return queryset
        today = timezone.localdate()
        return queryset.filter(
            status=Certificate.Status.ISSUED,
            valid_until__gte=today,
            valid_until__lte=today + timedelta(days=int(self.value())),
        )


class UnreturnedFilter(admin.SimpleListFilter):
    title = "返納"
    parameter_name = "unreturned"

    def lookups(self, request, model_admin):
        return (("yes", "未返納（喪失後の返納期限を過ぎた）"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(
                pk__in=unreturned_certificates(timezone.localdate()).values("pk")
            )
        return queryset


class ReadOnlyPageMixin:
    """Pages of records only services change: titled 「…を表示」, no 保存 buttons, and a
    POST to them is refused (actions on the list still work)."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("この画面からは変更できません。")
        obj = self.get_object(request, object_id)
        extra_context = {
            "title": f"{self.opts.verbose_name}を表示",
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            **(extra_context or {}),
        }
        if obj is not None:
            extra_context.setdefault("subtitle", str(obj))
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyPageMixin, ExportMixin, HistoryAdmin):
    resource_classes = [CertificateResource]
    export_formats = EXPORT_FORMATS
    list_display = (
        "key",
        "full_name_display",
        "kind",
        "reason",
        "status",
        "valid_from",
        "valid_until",
        "batch_link",
    )
    list_filter = (
        "status",
        "reason",
        ExpiresWithinFilter,
        ExpiryMonthFilter,
        UnreturnedFilter,
        CertificateSymbolFilter,
        "is_dependent",
    )
    date_hierarchy = "issued_on"
    search_fields = ("family_name_kana",)
    search_help_text = "記号・番号・枝番（例: 1001-12-01）、カナ、または氏名の先頭で検索します。"
    list_select_related = ("batch",)
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    raw_id_fields = ("member", "batch", "supersedes", "renews")
    actions = ["record_return", "void", "print_again"]
    change_form_template = "admin/certificates/certificate/change_form.html"

    @admin.display(description="記号-番号-枝番", ordering="symbol")
    def key(self, certificate: Certificate) -> str:
        return f"{certificate.symbol}-{certificate.number}-{certificate.branch}"

    @admin.display(description="氏名")
    def full_name_display(self, certificate: Certificate) -> str:
        return certificate.full_name

    @admin.display(description="種類")
    def kind(self, certificate: Certificate) -> str:
        return "被扶養者" if certificate.is_dependent else "被保険者"

    @admin.display(description="発行バッチ")
    def batch_link(self, certificate: Certificate) -> str:
        if certificate.batch_id is None:
            return "—"
        url = reverse("admin:certificates_issuebatch_change", args=[certificate.batch_id])
        return format_html('<a href="{}">#{}</a>', url, certificate.batch_id)

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        members = member_search(Member.objects.all(), term).values("pk")
        if looks_like_kana(term):
            return queryset.filter(member__in=members) | queryset.filter(
                family_name_kana__startswith=normalize_kana(term)
            ), False
        return queryset.filter(member__in=members), False

    def get_readonly_fields(self, request, obj=None):
        # What a certificate printed never changes: issue, return and void are services.
        return [field.name for field in Certificate._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="返納を記録する（今日）", permissions=["change"])
    def record_return(self, request, queryset):
        today = timezone.localdate()
        run_for_each(
            self,
            request,
            queryset,
            lambda c: certificate_record_return(
                certificate=c, returned_on=today, user=request.user
            ),
            "{count}件の返納を記録しました。",
        )

    @admin.action(description="未返納のため無効にする（今日）", permissions=["change"])
    def void(self, request, queryset):
        today = timezone.localdate()
        run_for_each(
            self,
            request,
            queryset,
            lambda c: certificate_void(certificate=c, voided_on=today, user=request.user),
            "{count}件を無効にしました。",
        )

    @admin.action(description="選んだ資格確認書を印刷する（記録されます）", permissions=["print"])
    def print_again(self, request, queryset):
        return self._pdf_response(request, list(queryset))

    def has_print_permission(self, request) -> bool:
        return request.user.has_perm("certificates.print_certificate")

    def _pdf_response(self, request, certificates):
        if len(certificates) != 1:
            self.message_user(request, "印刷は1件ずつ選んでください。", messages.WARNING)
            return None
        content = certificate_print_single(certificate=certificates[0], user=request.user)  # logged
        return FileResponse(
            io.BytesIO(content),
            content_type="application/pdf",
            filename=f"certificate-{certificates[0].pk}.pdf",
        )

    def get_urls(self):
        return [
            path(
                "<int:object_id>/print/",
                self.admin_site.admin_view(self.print_view),
                name="certificates_certificate_print",
            ),
            path(
                "issue-for-member/<int:member_id>/",
                self.admin_site.admin_view(self.issue_for_member_view),
                name="certificates_certificate_issue_for_member",
            ),
            *super().get_urls(),
        ]

    def print_view(self, request, object_id: int):
        return self._pdf_response(request, [get_object_or_404(Certificate, pk=object_id)])

    def issue_for_member_view(self, request, member_id: int):
        """From a member's page: one certificate now, for the member's current reason."""
        if request.method != "POST" or not request.user.has_perm("certificates.add_certificate"):
            raise PermissionDenied
        member = get_object_or_404(
            Member.objects.select_related("office", "myna_status"), pk=member_id
        )
        try:
            certificate = certificate_issue_for_need(
                member=member, issued_on=timezone.localdate(), user=request.user
            )
        except ValidationError as error:
            self.message_user(request, error_text(error), messages.ERROR)
            return redirect("admin:members_member_change", member.pk)
        self.message_user(
            request,
            f"資格確認書を交付しました（{certificate.get_reason_display()}、{certificate.valid_until}まで）。"
            f"PDFは発行バッチ #{certificate.batch_id} にあります。",
        )
        return redirect("admin:certificates_certificate_change", certificate.pk)


BATCH_FILES = {
    DownloadLog.Kind.CERTIFICATES_PDF: "application/pdf",
    DownloadLog.Kind.NOTICES_PDF: "application/pdf",
    DownloadLog.Kind.COVER_PDF: "application/pdf",
    DownloadLog.Kind.MAILING_CSV: "text/csv; charset=utf-8",
    DownloadLog.Kind.ENVELOPE_CSV: "text/csv; charset=utf-8",
    DownloadLog.Kind.CHECK_PDF: "application/pdf",
}


@admin.register(IssueBatch)
class IssueBatchAdmin(ReadOnlyPageMixin, HistoryAdmin):
    list_display = (
        "__str__",
        "issued_on",
        "kind",
        "status",
        "progress_bar",
        "certificate_count",
        "notice_count",
        "released_at",
    )
    list_filter = ("status", "kind")
    date_hierarchy = "issued_on"
    readonly_fields = (
        "kind",
        "issued_on",
        "status",
        "progress_bar",
        "certificate_count",
        "notice_count",
        "files",
        "parts_table",
        "error",
        "created_at",
        "rendered_at",
        "released_at",
        "released_by_name",
    )
    fields = readonly_fields
    released_by_name = person_column("released_by", "印刷許可者")
    actions = ["release", "render_again"]
    change_form_template = "admin/certificates/issuebatch/change_form.html"

    @admin.display(description="PDF作成")
    def progress_bar(self, batch: IssueBatch) -> str:
        return format_html(
            '<progress value="{}" max="100">{}%</progress> {}%',
            batch.progress,
            batch.progress,
            batch.progress,
        )

    @admin.display(description="ファイル（取得は記録されます）")
    def files(self, batch: IssueBatch) -> str:
        links = format_html_join(
            "",
            '<li><a href="{}">{}</a></li>',
            (
                (
                    reverse("admin:certificates_issuebatch_download", args=[batch.pk, kind]),
                    DownloadLog.Kind(kind).label,
                )
                for kind in BATCH_FILES
                if getattr(batch, kind)
            ),
        )
        if not links:
            return "—"
        envelopes = (
            reverse("admin:certificates_envelope_changelist") + f"?batch__id__exact={batch.pk}"
        )
        return format_html('<ul>{}</ul><p><a href="{}">封筒の一覧</a></p>', links, envelopes)

    @admin.display(description="部分（事業所ごと・取得は記録されます）")
    def parts_table(self, batch: IssueBatch) -> str:
        parts = list(batch.parts.order_by("sequence"))
        if not parts:
            return "—"
        rows = format_html_join(
            "",
            '<tr id="part-{}"><td>第{}部</td><td>{}</td><td>{}〜{}</td><td class="part-count">{}</td>'
            '<td>{}</td><td class="part-status">{}</td><td class="part-attempts">{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    part.sequence,
                    part.sequence,
                    part.office_range or "—",
                    part.first_envelope,
                    part.last_envelope,
                    f"{part.rendered_count:,}/{part.certificate_count:,}",
                    f"{part.notice_count:,}",
                    part.get_status_display(),
                    part.attempts,
                    part.rendered_by or "—",
                    self._part_links(batch, part),
                    part.error or "",
                )
                for part in parts
            ),
        )
        return format_html(
            '<table id="batch-parts"><thead><tr><th>部分</th><th>記号</th><th>封筒番号</th>'
            "<th>資格確認書（作成済/枚数）</th><th>お知らせ</th><th>状態</th><th>試行回数</th>"
            "<th>作成した処理</th><th>ファイル</th><th>エラー</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def _part_links(self, batch: IssueBatch, part: BatchPart) -> str:
        if batch.pdf and batch.pdf.name == part.pdf.name:
            return "上の「ファイル」と同じ（1部だけのバッチ）"
        return (
            format_html_join(
                " ",
                '<a href="{}">{}</a>',
                (
                    (
                        reverse(
                            "admin:certificates_issuebatch_part_download",
                            args=[batch.pk, part.sequence, kind],
                        ),
                        DownloadLog.Kind(kind).label,
                    )
                    for kind in PART_FILE_FIELDS
                    if getattr(part, kind)
                ),
            )
            or "—"
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_release_permission(self, request) -> bool:
        return request.user.has_perm("certificates.release_issuebatch")

    @admin.action(description="印刷を許可する", permissions=["release"])
    def release(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda b: batch_release(batch=b, user=request.user),
            "{count}件のバッチの印刷を許可しました。",
        )

    @admin.action(description="PDFを作り直す", permissions=["release"])
    def render_again(self, request, queryset):
        for batch in queryset.exclude(status=IssueBatch.Status.RELEASED):
            _enqueue_render(batch.pk, interactive=True)  # the supervisor is waiting
        self.message_user(
            request,
            "PDFの作成を始めました（失敗したバッチは、失敗した部分だけ作り直します）。"
            "進み具合はバッチの画面で確認できます。",
        )

    def get_urls(self):
        return [
            path(
                "<int:object_id>/download/<str:kind>/",
                self.admin_site.admin_view(self.download_view),
                name="certificates_issuebatch_download",
            ),
            path(
                "<int:object_id>/part/<int:sequence>/download/<str:kind>/",
                self.admin_site.admin_view(self.part_download_view),
                name="certificates_issuebatch_part_download",
            ),
            path(
                "<int:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="certificates_issuebatch_progress",
            ),
            path(
                "<int:object_id>/release/",
                self.admin_site.admin_view(self.release_view),
                name="certificates_issuebatch_release",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request, object_id: int, kind: str):
        """A batch file, only through here: role checked and logged (never /media/)."""
        return self._download(request, get_object_or_404(IssueBatch, pk=object_id), kind)

    def part_download_view(self, request, object_id: int, sequence: int, kind: str):
        """A file of one part of the batch: the same check, the same log (with the part)."""
        part = get_object_or_404(
            BatchPart.objects.select_related("batch"), batch_id=object_id, sequence=sequence
        )
        return self._download(request, part.batch, kind, part=part)

    def _download(self, request, batch: IssueBatch, kind: str, part: BatchPart | None = None):
        if kind not in BATCH_FILES:
            raise Http404("そのようなファイルはありません。")
        try:
            name = batch_file_download(
                batch=batch,
                kind=kind,
                user=request.user,
                ip_address=request.META.get("REMOTE_ADDR"),
                part=part,
            )
        except ValidationError as error:
            raise Http404(error_text(error)) from None
        return private_file_response(
            name, filename=name.rsplit("/", 1)[-1], content_type=BATCH_FILES[kind]
        )

    def progress_view(self, request, object_id: int):
        """The batch page polls this while it renders (no reload needed to see it move)."""
        batch = get_object_or_404(IssueBatch, pk=object_id)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        response = JsonResponse(batch_progress(batch))
        response["Cache-Control"] = "no-store"
        return response

    def release_view(self, request, object_id: int):
        """The 印刷を許可する button on a batch's page."""
        if request.method != "POST":
            raise PermissionDenied("印刷の許可はボタンから行ってください。")
        batch = get_object_or_404(IssueBatch, pk=object_id)
        try:
            batch_release(batch=batch, user=request.user)
            self.message_user(request, f"{batch} の印刷を許可しました。", messages.SUCCESS)
        except ValidationError as error:
            self.message_user(request, error_text(error), messages.ERROR)
        return redirect("admin:certificates_issuebatch_change", batch.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        extra_context = {
            "can_release": self.has_release_permission(request),
            "render_stalled": batch is not None and batch_render_is_stalled(batch),
            "render_progress": batch_progress(batch) if batch is not None else None,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Application)
class ApplicationAdmin(MemberSearchMixin, HistoryAdmin):
    list_display = (
        "member",
        "kind",
        "applicant_type",
        "received_on",
        "route",
        "status",
        "decided_by_name",
        "review_on",
    )
    list_filter = ("kind", "status", "route", "applicant_type", "received_on")
    list_select_related = ("member", "decided_by")
    autocomplete_fields = ("member",)
    show_facets = ShowFacets.NEVER
    actions = ["approve", "reject"]
    fieldsets = (
        ("申請", {"fields": ("member", "kind", "received_on", "route", "note")}),
        ("申請者（代理申請）", {"fields": ("applicant_type", "applicant_name")}),
        ("要配慮者", {"fields": ("evidence", "review_on")}),
        ("カード紛失", {"fields": ("lost_card_case",)}),
        ("決裁", {"fields": ("status", "decided_by_name", "decided_on", "decision_note")}),
    )
    readonly_fields = ("status", "decided_by_name", "decided_on", "decision_note")
    decided_by_name = person_column("decided_by", "決裁者")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            save_with_history(obj, reason="申請内容を修正", user=request.user)
        else:
            application_receive(application=obj, user=request.user)

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("certificates.decide_application")

    @admin.action(description="承認する（必要なら資格確認書を交付）", permissions=["decide"])
    def approve(self, request, queryset):
        today, issued, approved = timezone.localdate(), [], 0
        for application in queryset:
            try:
                certificate = application_decide(
                    application=application, approve=True, decided_on=today, user=request.user
                )
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{application}: {error_text(error)}", messages.ERROR)
                continue
            approved += 1
            issued += [certificate] if certificate else []
        if approved:
            self.message_user(request, approval_message(approved, issued), messages.SUCCESS)

    @admin.action(description="却下する", permissions=["decide"])
    def reject(self, request, queryset):
        today = timezone.localdate()
        run_for_each(
            self,
            request,
            queryset,
            lambda a: application_decide(
                application=a, approve=False, decided_on=today, user=request.user
            ),
            "{count}件を却下しました。",
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "lost_card_case":  # a list of the open cases, by member and date
            kwargs["queryset"] = LostCardCase.objects.filter(
                status=LostCardCase.Status.OPEN
            ).select_related("member")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.lost_card_case_id:
            fields.append("lost_card_case")  # the case it was made for stays the same
        if obj is not None and obj.status == Application.Status.ENDED:
            fields += ["ended_on", "end_note"]
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.status == Application.Status.ENDED:
            fieldsets.append(("要配慮者の承認の終了", {"fields": ("ended_on", "end_note")}))
        return fieldsets

    def change_view(self, request, object_id, form_url="", extra_context=None):
        application = self.get_object(request, object_id)
        extra_context = {
            "can_end_care_needs": application is not None
            and application.kind == Application.Kind.CARE_NEEDS
            and application.status == Application.Status.APPROVED
            and self.has_decide_permission(request),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/end-care-needs/",
                self.admin_site.admin_view(self.end_care_needs_view),
                name="certificates_application_end_care_needs",
            ),
            *super().get_urls(),
        ]

    def end_care_needs_view(self, request, object_id: int):
        """A supervisor ends a 要配慮者 approval, with the review date and a note."""
        if not self.has_decide_permission(request):
            raise PermissionDenied(NOT_DECIDER)
        application = get_object_or_404(Application, pk=object_id)
        form = CareNeedsEndForm(request.POST or None, initial={"ended_on": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            try:
                care_needs_end(application=application, user=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.message_user(
                    request, "要配慮者の承認を終了しました。以後この理由では更新しません。"
                )
                return redirect("admin:certificates_application_change", application.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": application,
            "title": "要配慮者の承認を終了する",
            "form": form,
        }
        return TemplateResponse(
            request, "admin/certificates/application/end_care_needs.html", context
        )


class CareNeedsEndForm(forms.Form):
    ended_on = forms.DateField(label="終了日（見直しをした日）")
    note = forms.CharField(
        label="終了の理由", max_length=200, widget=forms.TextInput(attrs={"size": 60})
    )


def approval_message(approved: int, issued: list[Certificate]) -> str:
    """Says what an approval did: how many were approved and which certificates it issued."""
    if not issued:
        return f"{approved}件を承認しました。新しく交付した資格確認書はありません（交付の必要がないか、有効な確認書があります）。"
    listed = "、".join(
        f"{c.symbol}-{c.number}-{c.branch} {c.full_name}（{c.get_reason_display()}、{c.valid_until}まで、発行バッチ #{c.batch_id}）"
        for c in issued
    )
    return f"{approved}件を承認し、資格確認書を{len(issued)}件交付しました: {listed}"


@admin.register(LostCardCase)
class LostCardCaseAdmin(MemberSearchMixin, HistoryAdmin):
    list_display = (
        "member",
        "lost_on",
        "reported_on",
        "hotline_suspended",
        "police_report_number",
        "status",
        "closed_on",
    )
    list_filter = ("status", "hotline_suspended", "reported_on")
    list_select_related = ("member",)
    autocomplete_fields = ("member",)
    fields = (
        "member",
        "lost_on",
        "reported_on",
        "hotline_suspended",
        "police_report_number",
        "status",
        "closed_on",
        "close_note",
    )
    readonly_fields = ("status", "closed_on")
    actions = ["close_cases"]

    def save_model(self, request, obj, form, change) -> None:
        reason = "紛失の対応を修正" if change else "紛失の届出を受付"
        save_with_history(obj, reason=reason, user=request.user)

    @admin.action(description="終了する（「終了の理由」を入力した対応）", permissions=["change"])
    def close_cases(self, request, queryset):
        today = timezone.localdate()
        run_for_each(
            self,
            request,
            queryset.filter(status=LostCardCase.Status.OPEN),
            lambda c: lost_card_case_close(
                case=c, closed_on=today, user=request.user, note=c.close_note
            ),
            "{count}件の対応を終了しました。",
        )


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "reason", "issued_on", "batch")
    list_filter = ("reason", "issued_on")
    raw_id_fields = ("member", "batch")
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    show_full_result_count = False


@admin.register(CertificatePrintLog)
class CertificatePrintLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "certificate", "user_name")
    user_name = person_column("user", "印刷者")
    list_select_related = ("certificate", "user")
    date_hierarchy = "at"


@admin.register(DownloadLog)
class DownloadLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "kind", "batch", "part", "file_name", "user_name", "ip_address")
    user_name = person_column("user", "取得者")
    list_filter = ("kind",)
    list_select_related = ("batch", "part", "user")
    date_hierarchy = "at"
    show_facets = ShowFacets.NEVER


class UndeliveredFilter(admin.SimpleListFilter):
    """「未達（N日以上）」: came back N or more days ago (保険者設定), receipt not confirmed."""

    title = "未達"
    parameter_name = "undelivered"

    def lookups(self, request, model_admin):
        days = insurer_settings_get().undelivered_after_days
        return (("yes", f"未達（{days}日以上）"),)

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        days = insurer_settings_get().undelivered_after_days
        return queryset.filter(
            pk__in=envelopes_undelivered(timezone.localdate(), days).values("pk")
        )


class EnvelopeReturnForm(forms.Form):
    returned_on = forms.DateField(label="戻った日")
    note = forms.CharField(
        label="メモ（戻った理由など）",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )


@admin.register(Envelope)
class EnvelopeAdmin(ReadOnlyPageMixin, HistoryAdmin):
    list_display = (
        "__str__",
        "route",
        "postal_code",
        "status",
        "returned_on",
        "resent_in_link",
    )
    list_filter = (UndeliveredFilter, "status", "route", OfficeSymbolFilter)
    search_fields = ("=number", "addressee")
    search_help_text = "番号（世帯）または宛名で検索します。"
    list_select_related = ("batch", "resent_in__batch")
    show_facets = ShowFacets.NEVER
    show_full_result_count = False
    paginator = LargeTablePaginator
    readonly_fields = (
        "batch",
        "sequence",
        "route",
        "household",
        "addressee",
        "postal_code",
        "address",
        "contents",
        "status",
        "returned_on",
        "return_note",
        "resent_in_link",
        "resolved_on",
        "resolve_note",
    )
    fields = readonly_fields
    actions = ["resolve"]
    change_form_template = "admin/certificates/envelope/change_form.html"

    @admin.display(description="記号-番号（世帯）", ordering="office_id")
    def household(self, envelope: Envelope) -> str:
        return envelope.household

    @admin.display(description="再送した封筒")
    def resent_in_link(self, envelope: Envelope) -> str:
        if envelope.resent_in_id is None:
            return "—"
        url = reverse("admin:certificates_envelope_change", args=[envelope.resent_in_id])
        return format_html('<a href="{}">{}</a>', url, envelope.resent_in)

    @admin.display(description="入れた書類")
    def contents(self, envelope: Envelope) -> str:
        items = sorted(
            (*envelope.certificates.all(), *envelope.notices.all()),
            key=lambda item: (item.branch, not isinstance(item, Certificate)),
        )
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}-{}-{} {} {} {}</li>",
                (
                    (
                        item.symbol,
                        item.number,
                        item.branch,
                        item.family_name,
                        item.given_name,
                        document_label(item, resent=item.batch_id != envelope.batch_id),
                    )
                    for item in items
                ),
            ),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="受け取りを確認した（対応済にする、今日）", permissions=["change"])
    def resolve(self, request, queryset):
        today = timezone.localdate()
        run_for_each(
            self,
            request,
            queryset,
            lambda e: envelope_resolve(
                envelope=e, resolved_on=today, note="受け取りを確認", user=request.user
            ),
            "{count}件を対応済にしました。",
        )

    def get_urls(self):
        return [
            path(
                "<int:object_id>/returned/",
                self.admin_site.admin_view(self.returned_view),
                name="certificates_envelope_returned",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        envelope = self.get_object(request, object_id)
        extra_context = {
            "can_record_return": envelope is not None
            and envelope.status == Envelope.Status.SENT
            and self.has_change_permission(request, envelope),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def returned_view(self, request, object_id: int):
        """「宛先不明で戻った」: the date it came back and a note."""
        envelope = get_object_or_404(Envelope.objects.select_related("batch"), pk=object_id)
        if not self.has_change_permission(request, envelope):
            raise PermissionDenied
        form = EnvelopeReturnForm(
            request.POST or None, initial={"returned_on": timezone.localdate()}
        )
        if request.method == "POST" and form.is_valid():
            try:
                envelope_record_return(envelope=envelope, user=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error_text(error))
            else:
                next_step = (
                    "次の定期発行で、同じ書類を事業所経由で再送します。"
                    if envelope.route == Envelope.Route.DIRECT
                    else "事業所経由の封筒なので自動では再送しません。本人の連絡先を確認してください。"
                )
                self.message_user(request, f"宛先不明で戻ったことを記録しました。{next_step}")
                return redirect("admin:certificates_envelope_change", envelope.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": envelope,
            "title": "宛先不明で戻った封筒を記録する",
            "form": form,
        }
        return TemplateResponse(request, "admin/certificates/envelope/returned.html", context)
