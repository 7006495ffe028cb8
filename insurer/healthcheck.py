"""Container healthchecks (docker-compose.yml, Dockerfile): exit 0 when healthy, 1 if not.

    python -m insurer.healthcheck web [URL]   the login page answers 200 (default
                                              http://127.0.0.1:8000/admin/login/)
    python -m insurer.healthcheck broker      the Celery broker (CELERY_BROKER_URL) answers

Loads no Django settings, so it is cheap enough to run every 30 seconds. The web check
asks as the proxy does: with a host from DJANGO_ALLOWED_HOSTS (any other is refused with
400) and `X-Forwarded-Proto: https` (with DJANGO_SECURE=1 a plain request is redirected).
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_WEB_URL = "http://127.0.0.1:8000/admin/login/"


def allowed_host(environ: dict[str, str]) -> str:
    """The first host of DJANGO_ALLOWED_HOSTS a request can name (`.example.jp` → `example.jp`)."""
    for host in environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def web_is_healthy(url: str = DEFAULT_WEB_URL, *, host: str, timeout: float = 5) -> bool:
    request = urllib.request.Request(url, headers={"Host": host, "X-Forwarded-Proto": "https"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # a redirect is not the login page
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def broker_is_healthy(url: str, *, timeout: float = 5) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else ""
    if kind == "web":
        url = argv[1] if len(argv) > 1 else DEFAULT_WEB_URL
        healthy = web_is_healthy(url, host=allowed_host(dict(os.environ)))
    elif kind == "broker":
        healthy = broker_is_healthy(os.environ.get("CELERY_BROKER_URL", ""))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
