"""The client's address behind the reverse proxy (docker-compose.yml: Caddy in front).

Behind a proxy every request reaches gunicorn from the proxy's address, so the login
lockout by username and address (django-axes, README "Security") would become a lockout by
username alone (anyone could lock a clerk out again), and the 個人番号の取扱記録 would log
the proxy's address for every reveal. With DJANGO_BEHIND_PROXY=1 this middleware puts the
address the proxy saw into REMOTE_ADDR before anything reads it: the last entry of
X-Forwarded-For, the one the nearest proxy wrote (Caddy replaces whatever X-Forwarded-For a
client sends with the client's address). Without a proxy the setting must stay off: a
client could then write any address into that header.
"""

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse


def forwarded_client_address(forwarded_for: str) -> str | None:
    """The last address of an X-Forwarded-For value, if it is one."""
    candidate = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ProxiedClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.BEHIND_PROXY:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        address = forwarded_client_address(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        if address:
            request.META["REMOTE_ADDR"] = address
        return self.get_response(request)
