from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class InsurerAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the project's site (titles, the dashboard index)."""

    default = False
    default_site = "insurer.admin_site.InsurerAdminSite"


class InsurerConfig(AppConfig):
    default = True
    name = "insurer"
    verbose_name = "保険者"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="insurer.sync_role_permissions")
