"""Logging in (issue 9): one page with username, password and 確認コード (TOTP, django-otp),
required for anyone who can read the My Number access log or reveal numbers (管理者, 監査,
superusers), for clerks when OTP_REQUIRED_FOR_CLERKS is set, and for anyone who has a
device; the idle timeout; the supervisor's unlock of axes lockouts.

Devices are enrolled by the system administrator with ``manage.py otp_setup USERNAME``
(README "Security"), never by the person logging in: a stolen password alone must not be
enough to register a new device.
"""

import logging
import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import logout
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = logging.getLogger(__name__)

# The permissions that make a second factor compulsory (the 管理者 and 監査 roles).
OTP_REQUIRED_PERMISSIONS = ("members.view_mynumberaccesslog", "members.reveal_mynumber")

OTP_LABEL = "確認コード"
OTP_HELP = "認証アプリ（Google Authenticator など）に表示される6桁の数字"
OTP_MISSING = "確認コードを入力してください（管理者・監査の役割では必須です）。"
OTP_WRONG = "確認コードが正しくありません。アプリに表示されている最新の6桁を入力してください。"
OTP_NOT_ENROLLED = (
    "2段階認証の端末が登録されていないため、ログインできません。"
    "システム管理者に登録（manage.py otp_setup）を依頼してください。"
)
IDLE_LOGGED_OUT = "一定時間操作がなかったため、ログアウトしました。もう一度ログインしてください。"
SESSION_ENDED = "ログインの有効時間が過ぎたため、ログアウトしました。もう一度ログインしてください。"


def otp_required(user: AbstractBaseUser) -> bool:
    """Whether this user must give a 確認コード. Uses the permission cache the admin has
    already filled, so it costs no query on a page."""
    if not user.is_authenticated:
        return False
    if settings.OTP_REQUIRED_FOR_CLERKS or user.is_superuser:
        return True
    return any(user.has_perm(permission) for permission in OTP_REQUIRED_PERMISSIONS)


def totp_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()


def otp_satisfied(user: AbstractBaseUser) -> bool:
    """For the admin site: verified in this session, or not required to be."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified()) or not otp_required(user)


class OTPLoginForm(AdminAuthenticationForm):
    """Username, password and 確認コード on one page."""

    otp_token = forms.CharField(
        label=OTP_LABEL,
        required=False,
        max_length=8,
        help_text=OTP_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )

    def clean(self):
        cleaned = super().clean()  # username and password (axes counts failures there)
        user = self.get_user()
        if user is None:
            return cleaned
        device = totp_device(user)
        if device is None:
            if otp_required(user):
                raise forms.ValidationError(OTP_NOT_ENROLLED, code="otp_not_enrolled")
            return cleaned
        token = "".join((cleaned.get("otp_token") or "").split())
        if not token:
            raise forms.ValidationError(OTP_MISSING, code="otp_missing")
        verified = verify_token(user, device.persistent_id, token)
        if verified is None:
            # A wrong code counts as a failed login: axes locks username + address after
            # AXES_FAILURE_LIMIT of them, as for wrong passwords.
            user_login_failed.send(
                sender=type(self),
                credentials={"username": user.get_username()},
                request=self.request,
            )
            raise forms.ValidationError(OTP_WRONG, code="otp_wrong")
        user.otp_device = verified  # django_otp.login stores it in the session at login
        return cleaned


class IdleSessionTimeoutMiddleware:
    """Logs out after SESSION_IDLE_TIMEOUT seconds without a request, and after
    SESSION_COOKIE_AGE seconds in all. The session is written at most once a minute."""

    WRITE_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.user.is_authenticated:
            now = int(time.time())
            session = request.session
            started = session.setdefault("started_at", now)
            last = session.get("last_seen_at", now)
            expired = None
            if now - last > settings.SESSION_IDLE_TIMEOUT:
                expired = IDLE_LOGGED_OUT
            elif now - started > settings.SESSION_COOKIE_AGE:
                expired = SESSION_ENDED
            if expired:
                logout(request)
                messages.warning(request, expired)
            elif now - last >= self.WRITE_EVERY or "last_seen_at" not in session:
                session["last_seen_at"] = now
        return self.get_response(request)


@transaction.atomic
def login_locks_release(*, attempts: QuerySet, user: AbstractBaseUser) -> int:
    """Unlock: delete the axes failure records (username + address) of the chosen rows.
    Logged with who did it; returns how many were released."""
    rows = list(attempts.values_list("username", "ip_address"))
    attempts.delete()
    for username, ip_address in rows:
        logger.info(
            "ログインのロックを解除: ユーザー名=%s アドレス=%s 操作者=%s",
            username,
            ip_address,
            user.get_username(),
        )
    return len(rows)
