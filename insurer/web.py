"""What only the web server's database connections get (issue 11): a statement timeout.

insurer/wsgi.py connects it, so gunicorn's workers have it and nothing else does (the
Celery worker, beat and the management commands run long statements on purpose). A clerk's
request waiting on a lock held by a batch, or a runaway query, ends with an error after
WEB_STATEMENT_TIMEOUT seconds instead of holding one of the few workers until gunicorn's
own timeout kills it.
"""

from django.conf import settings
from django.db.backends.signals import connection_created


def set_statement_timeout(sender=None, connection=None, **kwargs) -> None:
    seconds = int(getattr(settings, "WEB_STATEMENT_TIMEOUT", 0))
    if connection is None or connection.vendor != "postgresql" or seconds <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{seconds}s"])


def web_connections_setup() -> None:
    connection_created.connect(set_statement_timeout, dispatch_uid="insurer-web-statement-timeout")
