"""The project's admin site: Japanese titles, and an index that starts with the day's work."""

from django.contrib import admin
from django.utils import timezone

from .dashboard import (
    dashboard_numbers,
    my_overdue_count,
    undelivered_envelopes,
    worklist_bars,
)
from .logins import OTPLoginForm, otp_satisfied


class InsurerAdminSite(admin.AdminSite):
    site_header = "健康保険組合 資格管理"
    site_title = "資格管理"
    index_title = "業務メニュー"
    index_template = "admin/insurer_index.html"
    site_url = None  # no public site: no 「サイトを表示」 link
    # One login page: username, password and 確認コード (insurer/logins.py).
    login_form = OTPLoginForm
    login_template = "admin/otp_login.html"

    def has_permission(self, request) -> bool:
        """Staff, and OTP-verified in this session where the role requires it."""
        return super().has_permission(request) and otp_satisfied(request.user)

    def index(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["my_overdue"] = my_overdue_count(request.user)
        if request.user.has_perm("insurer.dashboard_insurer"):
            extra_context["dashboard"] = dashboard_numbers(timezone.localdate())
        elif request.user.has_perm("members.view_flag"):  # clerks: the day's worklist
            extra_context.update(
                show_worklist=True,
                worklist=worklist_bars(),
                undelivered=undelivered_envelopes(timezone.localdate()),
            )
        return super().index(request, extra_context)
