"""Every write to the inquiry log and incidents."""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from insurer.history import save_with_history

from .models import Incident, Inquiry

NOT_SUPERVISOR = "インシデントの確認と終了は管理者の操作です。"
NOT_REVIEWED = "管理者の確認が済んでいないインシデントは終了できません。"
UNKNOWN_STEP = "記録できる対応は、表示の停止・再照会・訂正・本人への通知です。"


@transaction.atomic
def inquiry_log(*, inquiry: Inquiry, user: AbstractBaseUser) -> Inquiry:
    """Record or update a contact. A follow-up date keeps it open; an urgent category
    opens an incident (once)."""
    is_new = inquiry.pk is None
    if inquiry.handler_id is None:
        inquiry.handler = user
    if inquiry.follow_up_on and inquiry.status == Inquiry.Status.CLOSED and is_new:
        inquiry.status = Inquiry.Status.OPEN
    if inquiry.status == Inquiry.Status.CLOSED:
        inquiry.closed_at = inquiry.closed_at or timezone.now()
        inquiry.overdue_since = None
    else:
        inquiry.closed_at = None
    save_with_history(inquiry, reason="問合せを記録" if is_new else "問合せを更新", user=user)
    if inquiry.category.opens_incident and not Incident.objects.filter(inquiry=inquiry).exists():
        incident_open(inquiry=inquiry, user=user)
    return inquiry


def incident_open(*, inquiry: Inquiry, user: AbstractBaseUser | None) -> Incident:
    incident = Incident(
        inquiry=inquiry, member=inquiry.member, opened_on=timezone.localdate(inquiry.received_at)
    )
    save_with_history(incident, reason="紐付け誤りの問合せからインシデントを開始", user=user)
    return incident


def _require_supervisor(user: AbstractBaseUser) -> None:
    if not user.has_perm("inquiries.review_incident"):
        raise PermissionDenied(NOT_SUPERVISOR)


@transaction.atomic
def incident_review(*, incident: Incident, user: AbstractBaseUser) -> Incident:
    _require_supervisor(user)
    if incident.reviewed_at is None:
        incident.reviewed_by, incident.reviewed_at = user, timezone.now()
        save_with_history(incident, reason="管理者が確認", user=user)
    return incident


@transaction.atomic
def incident_record_step(
    *, incident: Incident, step: str, on: date, user: AbstractBaseUser
) -> Incident:
    """One of the steps (hold, re-check, correction, notice to the member)."""
    if step not in Incident.STEPS:
        raise ValidationError(UNKNOWN_STEP)
    setattr(incident, step, on)
    save_with_history(
        incident, reason=f"対応を記録: {Incident._meta.get_field(step).verbose_name}", user=user
    )
    return incident


@transaction.atomic
def incident_close(*, incident: Incident, user: AbstractBaseUser) -> Incident:
    _require_supervisor(user)
    if incident.reviewed_at is None:
        raise ValidationError(NOT_REVIEWED)
    incident.status, incident.closed_by, incident.closed_at = (
        Incident.Status.CLOSED,
        user,
        timezone.now(),
    )
    save_with_history(incident, reason="インシデントを終了", user=user)
    return incident


def follow_ups_flag(*, as_of: date) -> dict[str, int]:
    """Nightly: inquiries past their follow-up date, incidents not reviewed on their day.

    Marks (and unmarks) derived fields kept out of history; idempotent for a date.
    """
    still_open = Q(status__in=[Inquiry.Status.OPEN, Inquiry.Status.WAITING])
    overdue = Inquiry.objects.filter(still_open, follow_up_on__lt=as_of)
    newly_overdue = overdue.filter(overdue_since__isnull=True).update(overdue_since=as_of)
    Inquiry.objects.filter(overdue_since__isnull=False).exclude(pk__in=overdue.values("pk")).update(
        overdue_since=None
    )
    escalated = Incident.objects.filter(
        status=Incident.Status.OPEN,
        reviewed_at__isnull=True,
        opened_on__lt=as_of,
        escalated_on__isnull=True,
    ).update(escalated_on=as_of)
    return {"inquiries_overdue": newly_overdue, "incidents_unreviewed": escalated}
