from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_my_number_keys(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """In production the vault keys must come from the environment, not SECRET_KEY."""
    if settings.MY_NUMBER_KEYS_FROM_ENV:
        return []
    return [
        checks.Error(
            "個人番号の暗号鍵が環境変数で設定されていません。",
            hint="MY_NUMBER_KEYS と MY_NUMBER_HASH_KEY を設定してください（README「設定」）。",
            id="members.E001",
        )
    ]
