"""ログインのロック: the supervisor's screen over django-axes' failure records."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import ShowFacets

from .logins import login_locks_release
from .models import LoginLock


@admin.register(LoginLock)
class LoginLockAdmin(admin.ModelAdmin):
    """One row per username and address that failed to log in; locked once the failures
    reach AXES_FAILURE_LIMIT (for AXES_COOLOFF_TIME hours). 解除 deletes the row."""

    list_display = (
        "username_display",
        "ip_address_display",
        "failures_display",
        "is_locked_display",
        "attempt_time_display",
        "user_agent_display",
    )
    list_filter = ("attempt_time",)
    search_fields = ("username", "ip_address")
    search_help_text = "ユーザー名またはアドレスで探します。"
    ordering = ("-attempt_time",)
    actions = ["unlock"]
    show_facets = ShowFacets.NEVER
    list_display_links = None

    @admin.display(description="ユーザー名", ordering="username")
    def username_display(self, attempt: LoginLock) -> str:
        return attempt.username

    @admin.display(description="アドレス", ordering="ip_address")
    def ip_address_display(self, attempt: LoginLock) -> str:
        return attempt.ip_address

    @admin.display(description="失敗回数", ordering="failures_since_start")
    def failures_display(self, attempt: LoginLock) -> int:
        return attempt.failures_since_start

    @admin.display(description="ロック中", boolean=True)
    def is_locked_display(self, attempt: LoginLock) -> bool:
        return attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT

    @admin.display(description="最後の失敗", ordering="attempt_time")
    def attempt_time_display(self, attempt: LoginLock):
        return attempt.attempt_time

    @admin.display(description="ブラウザー")
    def user_agent_display(self, attempt: LoginLock) -> str:
        return attempt.user_agent[:60]

    @admin.action(description="選んだロックを解除する", permissions=["unlock"])
    def unlock(self, request, queryset) -> None:
        count = login_locks_release(attempts=queryset, user=request.user)
        messages.success(request, f"{count}件のロックを解除しました。")

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm("insurer.delete_loginlock")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # unlocking is the action above, logged
