from django.conf import settings
from django.core import checks

from . import vault


@checks.register(checks.Tags.security, deploy=True)
def check_my_number_keys(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The vault keys must come from the environment (outside DEBUG the settings refuse
    to load without them; this catches a DEBUG settings file deployed by mistake)."""
    if settings.MY_NUMBER_KEYS_FROM_ENV:
        return []
    return [
        checks.Error(
            "個人番号の暗号鍵が環境変数で設定されていません。",
            hint="MY_NUMBER_KEYS と MY_NUMBER_HASH_KEY を設定してください（README「Security」）。",
            id="members.E001",
        )
    ]


@checks.register()
def check_my_number_hash_key(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Every command that runs the system checks (and runserver) refuses a hash key other
    than the one the stored look-up hashes were made with."""
    problem = vault.hash_key_problem_at_start()
    if problem is None:
        return []
    return [
        checks.Error(
            problem,
            hint="python manage.py rehash_my_numbers（README「Security」）",
            id="members.E002",
        )
    ]
