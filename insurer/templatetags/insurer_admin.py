"""Small display filters for the admin templates the project overrides."""

from django import template

from insurer.admin_utils import COUNT_LIMIT
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


@register.filter
def result_count_text(cl) -> str:
    """A changelist's count as a clerk reads it: 864 件, 10,000 件以上 (a filtered list
    stops counting there), 約 1,000,001 件 (a whole large table, estimated)."""
    paginator = getattr(cl, "paginator", None)
    if getattr(paginator, "capped", False):
        return f"{COUNT_LIMIT:,} 件以上"
    if getattr(paginator, "estimated", False):
        return f"約 {cl.result_count:,} 件"
    return f"{cl.result_count:,} 件"
