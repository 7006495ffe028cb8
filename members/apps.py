from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "加入者"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
