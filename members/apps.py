from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "加入者"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import signals

        from . import checks  # noqa: F401  (registers the system checks)
        from .startup import refuse_changed_hash_key

        # A Celery worker or beat with a changed hash key stops at start (the web server
        # in insurer/wsgi.py, commands through the system check).
        signals.worker_init.connect(refuse_changed_hash_key, dispatch_uid="members-hash-key")
        signals.beat_init.connect(refuse_changed_hash_key, dispatch_uid="members-hash-key-beat")
