"""Logins (issue 9): 確認コード (TOTP) on the one login page, lockout by username and
address with a supervisor's unlock, the password policy, the idle timeout, demo users."""

import time
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from insurer.logins import IDLE_LOGGED_OUT, OTP_MISSING, OTP_NOT_ENROLLED, OTP_WRONG
from insurer.models import LoginLock
from insurer.roles import CLERK, SUPERVISOR
from tests.conftest import make_user
from tests.otp import totp_device, totp_token

LOGIN = "/admin/login/"
INDEX = "/admin/"
PASSWORD = "correct-horse-battery-9"


def user_with_password(role: str):
    user = make_user(role)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client: Client, username: str, password: str = PASSWORD, token: str = ""):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "otp_token": token, "next": INDEX},
    )


@pytest.mark.django_db
def test_the_login_page_asks_for_the_confirmation_code():
    page = Client().get(LOGIN).content.decode()
    assert 'name="otp_token"' in page and "確認コード" in page
    assert '<label for="id_otp_token">確認コード' in page


@pytest.mark.django_db
def test_a_supervisor_logs_in_with_password_and_code():
    supervisor = user_with_password(SUPERVISOR)
    client = Client()
    response = log_in(client, "supervisor", token=totp_token(supervisor))
    assert response.status_code == 302 and response["Location"] == INDEX
    assert client.session[DEVICE_ID_SESSION_KEY] == totp_device(supervisor).persistent_id
    assert client.get(INDEX).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("token", "message"), [("", OTP_MISSING), ("000000", OTP_WRONG)])
def test_a_supervisor_without_the_right_code_stays_out(token, message):
    supervisor = user_with_password(SUPERVISOR)
    totp_device(supervisor)
    if token == "000000" and totp_token(supervisor) == token:  # 1 in a million
        token = "111111"
    client = Client()
    response = log_in(client, "supervisor", token=token)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_an_auditor_without_a_device_cannot_log_in():
    from insurer.roles import AUDITOR

    user_with_password(AUDITOR)
    client = Client()
    response = log_in(client, "auditor")
    assert OTP_NOT_ENROLLED in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_password_alone_is_not_enough_for_a_supervisor_session(supervisor):
    """A session logged in without the code (force_login) does not open the admin."""
    client = Client()
    client.force_login(supervisor)
    response = client.get(INDEX)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


@pytest.mark.django_db
def test_clerks_need_no_code_unless_the_setting_says_so(settings):
    user_with_password(CLERK)
    client = Client()
    assert log_in(client, "clerk").status_code == 302
    assert client.get(INDEX).status_code == 200

    settings.OTP_REQUIRED_FOR_CLERKS = True
    client = Client()
    assert OTP_NOT_ENROLLED in log_in(client, "clerk").content.decode()
    assert client.get(INDEX).status_code == 302  # and an old session is no longer enough


@pytest.mark.django_db
def test_a_clerk_who_has_a_device_must_use_it():
    clerk = user_with_password(CLERK)
    totp_device(clerk)
    assert OTP_MISSING in log_in(Client(), "clerk").content.decode()
    assert log_in(Client(), "clerk", token=totp_token(clerk)).status_code == 302


@pytest.mark.django_db
def test_wrong_codes_count_towards_the_lockout():
    supervisor = user_with_password(SUPERVISOR)
    totp_device(supervisor)
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "supervisor", token="abcdef")  # never a valid code
    assert LoginLock.objects.get(username="supervisor").failures_since_start == (
        settings.AXES_FAILURE_LIMIT - 1
    )
    assert log_in(client, "supervisor", token=totp_token(supervisor)).status_code == 302
    client = Client(REMOTE_ADDR="10.0.0.2")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "supervisor", token="abcdef")
    assert log_in(client, "supervisor", token=totp_token(supervisor)).status_code == 429


@pytest.mark.django_db
def test_lockout_is_by_username_and_address_and_a_supervisor_unlocks_it(supervisor_client):
    user_with_password(CLERK)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, "clerk", password="wrong")
    locked = log_in(attacker, "clerk")
    assert locked.status_code == 429  # locked there
    assert "ロックされています" in locked.content.decode()

    office = Client(REMOTE_ADDR="10.0.0.5")
    assert log_in(office, "clerk").status_code == 302  # the clerk still works at the office

    # The supervisor sees the lock and lifts it.
    changelist = reverse("admin:insurer_loginlock_changelist")
    page = supervisor_client.get(changelist)
    assert page.status_code == 200
    content = page.content.decode()
    assert "ログインのロック" in content and "203.0.113.9" in content
    assert "選んだロックを解除する" in content
    lock = LoginLock.objects.get(username="clerk", ip_address="203.0.113.9")
    response = supervisor_client.post(
        changelist, {"action": "unlock", "_selected_action": [lock.pk]}, follow=True
    )
    assert "1件のロックを解除しました" in response.content.decode()
    assert log_in(Client(REMOTE_ADDR="203.0.113.9"), "clerk").status_code == 302


@pytest.mark.django_db
def test_clerks_and_auditors_cannot_see_or_lift_locks(clerk_client, auditor_client):
    changelist = reverse("admin:insurer_loginlock_changelist")
    assert clerk_client.get(changelist).status_code == 403
    assert auditor_client.get(changelist).status_code == 403


@pytest.mark.parametrize(
    "password", ["kenpo2026", "Kenpo2026Kenpo!", "password1234", "123456789012"]
)
def test_guessable_passwords_are_refused_in_japanese(password):
    with pytest.raises(ValidationError) as error:
        password_validation.validate_password(password)
    text = " ".join(error.value.messages)
    assert any(word in text for word in ("短すぎ", "推測されやすい", "一般的すぎ", "数字しか"))


def test_a_long_random_password_passes():
    password_validation.validate_password("Tsuki-to-Suppon-47-Hashi")


def test_short_passwords_are_refused_with_the_minimum():
    with pytest.raises(ValidationError) as error:
        password_validation.validate_password("Ab3$efGh9!x")  # 11 characters
    assert "12" in " ".join(error.value.messages)


@pytest.mark.django_db
def test_an_idle_session_ends(clerk_client):
    assert clerk_client.get(INDEX).status_code == 200
    session = clerk_client.session
    session["last_seen_at"] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT - 1
    session.save()
    response = clerk_client.get(INDEX, follow=True)
    assert response.redirect_chain[0][0].startswith(LOGIN)
    assert IDLE_LOGGED_OUT in response.content.decode()
    assert "_auth_user_id" not in clerk_client.session


@pytest.mark.django_db
def test_a_session_ends_after_its_maximum_age_even_when_busy(clerk_client):
    assert clerk_client.get(INDEX).status_code == 200
    session = clerk_client.session
    session["started_at"] = int(time.time()) - settings.SESSION_COOKIE_AGE - 1
    session.save()
    assert clerk_client.get(INDEX).status_code == 302


@pytest.mark.django_db
def test_demo_users_are_refused_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="本番（DJANGO_DEBUG=0）では作れません"):
        call_command("create_demo_users")
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_demo_users_in_debug_get_devices_and_can_log_in(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("create_demo_users", stdout=out)
    assert "demo_otp_code" in out.getvalue()
    supervisor = get_user_model().objects.get(username="supervisor")
    code = StringIO()
    call_command("demo_otp_code", "supervisor", stdout=code)
    client = Client()
    response = log_in(client, "supervisor", "demo-pass-2026", code.getvalue().strip())
    assert response.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY] == totp_device(supervisor).persistent_id
    assert not TOTPDevice.objects.filter(user__username="clerk").exists()
    settings.DEBUG = False
    with pytest.raises(CommandError, match="デモ用"):
        call_command("demo_otp_code", "supervisor")


@pytest.mark.django_db
def test_otp_setup_enrolls_and_replaces_a_device(supervisor):
    out = StringIO()
    call_command("otp_setup", "supervisor", stdout=out)
    first = TOTPDevice.objects.get(user=supervisor)
    assert "otpauth://totp/" in out.getvalue() and "確認コード" in out.getvalue()
    with pytest.raises(CommandError, match="--replace"):
        call_command("otp_setup", "supervisor")
    call_command("otp_setup", "supervisor", "--replace", stdout=StringIO())
    assert TOTPDevice.objects.get(user=supervisor).key != first.key
    with pytest.raises(CommandError, match="登録されていません"):
        call_command("otp_setup", "nobody")
