"""Two-factor helpers for tests: a TOTP device per user, the current 確認コード, and a test
client whose session is OTP-verified the way django_otp.login leaves it."""

from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user) -> TOTPDevice:
    """The user's confirmed TOTP device, made if there is none."""
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, confirmed=True, defaults={"name": "テスト"}
    )
    return device


def totp_token(user) -> str:
    """A 確認コード the login form accepts now, for the user's device (made if missing).

    A TOTP code is good once per 30-second step, and wrong codes slow the device down
    (throttling): for a test logging in again, both are reset, so the code always works.
    """
    device = totp_device(user)
    device.last_t = -1
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save(
        update_fields=["last_t", "throttling_failure_count", "throttling_failure_timestamp"]
    )
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def verify_session(client: Client, user) -> None:
    """Mark a logged-in client's session as OTP-verified (what django_otp.login does)."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()


def logged_in(user) -> Client:
    """A client logged in as `user`, OTP-verified where the role requires it."""
    from insurer.logins import otp_required

    client = Client()
    client.force_login(user)
    if otp_required(get_user_model().objects.get(pk=user.pk)):  # fresh permission cache
        verify_session(client, user)
    return client
