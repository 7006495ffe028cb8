"""Small display filters for the admin templates the project overrides."""

from django import template

from insurer.history import person_label

register = template.Library()

HISTORY_TYPES = {"+": "登録", "~": "変更", "-": "削除"}


@register.filter
def person(user) -> str:
    """A user by full name; no user means the system (nightly job, import, issuing)."""
    return person_label(user)


@register.filter
def history_type_label(record) -> str:
    return HISTORY_TYPES.get(getattr(record, "history_type", ""), "")
