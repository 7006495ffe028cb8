from django.apps import AppConfig


class InquiriesConfig(AppConfig):
    name = "inquiries"
    verbose_name = "問合せ"
    default_auto_field = "django.db.models.BigAutoField"
