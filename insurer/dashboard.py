"""The numbers a supervisor needs today, for the admin index. A fixed number of grouped
queries on indexed columns, whatever the size of the register (tested)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from certificates.models import Certificate, LostCardCase
from certificates.selectors import envelopes_undelivered
from inquiries.models import Incident, Inquiry
from members.models import Flag
from members.rules import first_of_month

from .models import JobRun
from .selectors import insurer_settings_get


@dataclass
class Bar:
    label: str
    count: int
    url_query: str
    percent: int = 0


@dataclass
class Undelivered:
    """Envelopes back as undeliverable for `days` or more, receipt not confirmed."""

    days: int
    count: int


def undelivered_envelopes(today: date) -> Undelivered:
    days = insurer_settings_get().undelivered_after_days
    return Undelivered(days, envelopes_undelivered(today, days).count())


@dataclass
class Dashboard:
    today: date
    flags: list[Bar] = field(default_factory=list)
    issued_this_month: list[Bar] = field(default_factory=list)
    expiring: dict[int, int] = field(default_factory=dict)
    open_lost_cases: int = 0
    undelivered: "Undelivered | None" = None
    inquiries: list[dict] = field(default_factory=list)
    open_incidents: int = 0
    unreviewed_incidents: int = 0
    last_runs: list[JobRun] = field(default_factory=list)

    @property
    def open_flags_total(self) -> int:
        return sum(bar.count for bar in self.flags)

    @property
    def issued_total(self) -> int:
        return sum(bar.count for bar in self.issued_this_month)


def _scaled(bars: list[Bar]) -> list[Bar]:
    top = max((bar.count for bar in bars), default=0) or 1
    for bar in bars:
        bar.percent = round(bar.count * 100 / top)
    return bars


def worklist_bars() -> list[Bar]:
    """Open flags by kind and reason, each with its filtered list (one grouped query)."""
    kinds, reasons = dict(Flag.Kind.choices), dict(Flag.Reason.choices)
    bars = []
    for kind, reason, count in (
        Flag.objects.filter(closed_on__isnull=True)
        .values_list("kind", "reason")
        .annotate(count=Count("pk"))
        .order_by("kind", "reason")
    ):
        label = kinds[kind] + (f"（{reasons[reason]}）" if reason else "")
        query = f"kind__exact={kind}" + (f"&reason__exact={reason}" if reason else "")
        bars.append(Bar(label, count, query))
    return _scaled(bars)


def dashboard_numbers(today: date) -> Dashboard:
    board = Dashboard(today=today, flags=worklist_bars())

    month_start = first_of_month(today)
    reason_labels = dict(Certificate.REASON_CHOICES)
    for reason, count in (
        Certificate.objects.filter(issued_on__gte=month_start, issued_on__lte=today)
        .values_list("reason")
        .annotate(count=Count("pk"))
        .order_by("-count")
    ):
        query = (
            f"issued_on__year={today.year}&issued_on__month={today.month}&reason__exact={reason}"
        )
        board.issued_this_month.append(Bar(reason_labels.get(reason, reason), count, query))
    _scaled(board.issued_this_month)

    windows = (30, 60, 90)
    board.expiring = Certificate.objects.filter(
        status=Certificate.Status.ISSUED,
        valid_until__gte=today,
        valid_until__lte=today + timedelta(days=90),
    ).aggregate(
        **{
            f"d{days}": Count("pk", filter=Q(valid_until__lte=today + timedelta(days=days)))
            for days in windows
        }
    )
    board.expiring = {days: board.expiring[f"d{days}"] for days in windows}
    board.open_lost_cases = LostCardCase.objects.filter(status=LostCardCase.Status.OPEN).count()
    board.undelivered = undelivered_envelopes(today)

    board.inquiries = list(
        Inquiry.objects.exclude(status=Inquiry.Status.CLOSED)
        .values("category_id", "category__name", "category__order")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(overdue_since__isnull=False)))
        .order_by("category__order")
    )
    incidents = Incident.objects.filter(status=Incident.Status.OPEN).aggregate(
        open=Count("pk"), unreviewed=Count("pk", filter=Q(reviewed_at__isnull=True))
    )
    board.open_incidents, board.unreviewed_incidents = incidents["open"], incidents["unreviewed"]
    board.last_runs = list(
        JobRun.objects.filter(started_at__gte=_since(today)).order_by("-started_at")[:6]
    )
    return board


def _since(today: date) -> datetime:
    return timezone.make_aware(datetime.combine(today - timedelta(days=1), time.min))


def my_overdue_count(user) -> int:
    """Clerks' own follow-ups past their date (the index shows them first)."""
    return (
        Inquiry.objects.filter(handler=user, overdue_since__isnull=False)
        .exclude(status=Inquiry.Status.CLOSED)
        .count()
    )
