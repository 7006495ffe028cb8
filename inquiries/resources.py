"""Inquiry exports for management reporting (rows, and counts by month and category)."""

import tablib
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from import_export import resources
from import_export.fields import Field

from .models import Inquiry

INQUIRY_COLUMNS = (
    "received_at",
    "channel",
    "caller_role",
    "symbol",
    "number",
    "branch",
    "category",
    "question",
    "answer",
    "follow_up_on",
    "status",
    "handler",
)


class InquiryResource(resources.ModelResource):
    """One row per contact (member by 記号・番号・枝番; never a My Number)."""

    symbol = Field("member__office_id", "symbol")
    number = Field("member__number", "number")
    branch = Field("member__branch", "branch")
    category = Field("category__name", "category")
    handler = Field("handler__username", "handler")

    class Meta:
        model = Inquiry
        fields = INQUIRY_COLUMNS
        export_order = INQUIRY_COLUMNS

    def dehydrate_received_at(self, inquiry: Inquiry) -> str:
        from django.utils import timezone

        return timezone.localtime(inquiry.received_at).strftime("%Y-%m-%d %H:%M")

    def get_queryset(self):
        return Inquiry.objects.select_related("member", "category", "handler").order_by(
            "received_at"
        )


def monthly_report() -> tablib.Dataset:
    """Inquiries by month (Asia/Tokyo) and category: received, closed, overdue."""
    rows = (
        Inquiry.objects.annotate(month=TruncMonth("received_at"))
        .values("month", "category__order", "category__name")
        .annotate(
            received=Count("pk"),
            closed=Count("pk", filter=Q(status=Inquiry.Status.CLOSED)),
            overdue=Count(
                "pk", filter=Q(overdue_since__isnull=False) & ~Q(status=Inquiry.Status.CLOSED)
            ),
        )
        .order_by("month", "category__order")
    )
    dataset = tablib.Dataset(headers=["month", "category", "received", "closed", "overdue"])
    for row in rows:
        dataset.append(
            [
                row["month"].strftime("%Y-%m"),
                row["category__name"],
                row["received"],
                row["closed"],
                row["overdue"],
            ]
        )
    return dataset
