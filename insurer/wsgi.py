import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")

application = get_wsgi_application()

# The web server's connections stop a statement after WEB_STATEMENT_TIMEOUT (insurer/web.py).
from insurer.web import web_connections_setup  # noqa: E402

web_connections_setup()

# Fail closed: the settings have refused missing or weak keys; this refuses a hash key
# other than the one the stored look-up hashes were made with (README "Security").
from members.vault import HashKeyChanged, hash_key_problem_at_start  # noqa: E402

if problem := hash_key_problem_at_start():
    raise HashKeyChanged(problem)
