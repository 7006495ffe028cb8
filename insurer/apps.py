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
        from celery import signals

        from . import checks  # noqa: F401  (registers the system checks)
        from .priority import lower_worker_priority
        from .roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="insurer.sync_role_permissions")
        # Batch work yields the CPU to the clerks' requests (insurer/priority.py).
        signals.worker_init.connect(lower_worker_priority, dispatch_uid="insurer-job-niceness")
