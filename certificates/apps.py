from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "資格確認書"
    default_auto_field = "django.db.models.BigAutoField"
