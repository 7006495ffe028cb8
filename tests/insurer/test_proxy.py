"""Behind the reverse proxy: the client's address for the lockout and the logs (insurer/proxy.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from insurer.proxy import forwarded_client_address

PROXY = "172.18.0.5"  # what REMOTE_ADDR is for every request behind Caddy
OFFICE, ATTACKER = "198.51.100.7", "203.0.113.9"


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("10.0.0.1, 203.0.113.9", "203.0.113.9"),  # the nearest proxy's entry is the last
        ("2001:db8::1", "2001:db8::1"),
        ("", None),
        ("not-an-address", None),
        ("203.0.113.9, unknown", None),
    ],
)
def test_the_client_address_is_the_last_forwarded_one(header, address):
    assert forwarded_client_address(header) == address


def attempts(client: Client, address: str, password: str) -> int:
    return client.post(
        "/admin/login/",
        {"username": "clerk", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=address,
    ).status_code


@pytest.mark.parametrize("behind_proxy", [True, False])
def test_a_stranger_behind_the_proxy_does_not_lock_the_office_out(db, settings, behind_proxy):
    settings.BEHIND_PROXY = behind_proxy
    get_user_model().objects.create_user(username="clerk", password="correct-horse", is_staff=True)
    client = Client()  # built after the setting: the middleware is kept or left out at start
    failures = [attempts(client, ATTACKER, "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert failures[-1] == 429
    office = attempts(Client(), OFFICE, "correct-horse")
    # With the setting the office logs in; without it every request has the proxy's address
    # and the stranger's failures lock the clerk out everywhere (why compose sets it).
    assert office == (302 if behind_proxy else 429)
