from .models import Insurer, InsurerSettings


def insurer_settings_get() -> InsurerSettings:
    """The settings row (created with its defaults by a migration, or here if missing)."""
    settings, _ = InsurerSettings.objects.get_or_create(pk=1)
    return settings


def insurer_get() -> Insurer | None:
    return Insurer.objects.order_by("pk").first()
