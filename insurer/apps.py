from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InsurerConfig(AppConfig):
    name = "insurer"
    verbose_name = "保険者"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="insurer.sync_role_permissions")
