"""The inquiry log, its categories with answer guidance, and incidents (紐付け誤り)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from members.models import Member


class Category(models.Model):
    """A topic of §10, with a short answer guide for clerks (editable by supervisors)."""

    code = models.SlugField("コード", max_length=40, unique=True)
    name = models.CharField("分類", max_length=60)
    order = models.PositiveSmallIntegerField("表示順", default=100)
    guidance = models.TextField("回答の手引き", blank=True)
    opens_incident = models.BooleanField(
        "インシデントとして扱う",
        default=False,
        help_text="この分類の問合せはインシデントを開き、管理者が当日中に確認します。",
    )
    is_active = models.BooleanField("使用中", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "問合せの分類"
        verbose_name_plural = "問合せの分類（回答の手引き）"
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return f"【至急】{self.name}" if self.opens_incident else self.name


class Inquiry(models.Model):
    """Every contact (domain.md §10). Never looked up by My Number."""

    class Channel(models.TextChoices):
        PHONE = "phone", "電話"
        COUNTER = "counter", "窓口"
        MAIL = "mail", "郵便"
        EMAIL = "email", "メール"
        EMPLOYER = "employer", "事業所経由"

    class CallerRole(models.TextChoices):
        MEMBER = "member", "被保険者本人"
        DEPENDENT = "dependent", "被扶養者"
        EMPLOYER = "employer", "事業所の担当者"
        CLINIC = "clinic", "医療機関・薬局"
        FACILITY = "facility", "施設"
        PROXY = "proxy", "代理人・家族"

    class Status(models.TextChoices):
        OPEN = "open", "対応中"
        WAITING = "waiting", "回答待ち（相手方）"
        CLOSED = "closed", "完了"

    received_at = models.DateTimeField("受付日時", default=timezone.now)
    channel = models.CharField(
        "経路", max_length=10, choices=Channel.choices, default=Channel.PHONE
    )
    caller_role = models.CharField(
        "相手", max_length=10, choices=CallerRole.choices, default=CallerRole.MEMBER
    )
    caller_name = models.CharField(
        "相手の氏名・所属",
        max_length=100,
        blank=True,
        help_text="加入者が分からないときや、事業所・医療機関からのとき。",
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inquiries",
        verbose_name="加入者",
        help_text="記号・番号・枝番、カナまたは氏名で探します（個人番号では探しません）。",
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="inquiries", verbose_name="分類"
    )
    question = models.TextField("問合せ内容")
    answer = models.TextField("回答", blank=True)
    follow_up_on = models.DateField("フォローアップ期日", null=True, blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="inquiries",
        verbose_name="担当者",
    )
    status = models.CharField("状態", max_length=8, choices=Status.choices, default=Status.CLOSED)
    overdue_since = models.DateField("期日超過（夜間処理が記録）", null=True, blank=True)
    application = models.ForeignKey(
        "certificates.Application",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inquiries",
        verbose_name="つながった申請",
    )
    lost_card_case = models.ForeignKey(
        "certificates.LostCardCase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inquiries",
        verbose_name="つながった紛失の対応",
    )
    closed_at = models.DateTimeField("完了日時", null=True, blank=True)
    # overdue_since is derived nightly from the follow-up date: not part of the history.
    history = HistoricalRecords(excluded_fields=["overdue_since"])

    class Meta:
        verbose_name = "問合せ"
        verbose_name_plural = "問合せ"
        ordering = ["-received_at"]
        permissions = [("export_inquiry", "問合せを出力できる")]
        indexes = [
            models.Index(fields=["status", "category"], name="inquiry_status_category"),
            models.Index(fields=["handler", "overdue_since"], name="inquiry_handler_overdue"),
            models.Index(fields=["received_at"], name="inquiry_received_at"),
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.received_at):%Y-%m-%d %H:%M} {self.category.name}"


class Incident(models.Model):
    """Another person's data was shown (紐付け誤り): reviewed by a supervisor the same day,
    open until a supervisor closes it, every step recorded."""

    class Status(models.TextChoices):
        OPEN = "open", "対応中"
        CLOSED = "closed", "終了"

    inquiry = models.OneToOneField(
        Inquiry, on_delete=models.PROTECT, related_name="incident", verbose_name="問合せ"
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name="加入者",
    )
    opened_on = models.DateField("発生日")
    status = models.CharField("状態", max_length=8, choices=Status.choices, default=Status.OPEN)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="確認した管理者",
    )
    reviewed_at = models.DateTimeField("管理者の確認日時", null=True, blank=True)
    escalated_on = models.DateField("当日中に未確認（夜間処理が記録）", null=True, blank=True)
    held_on = models.DateField("表示の停止・保留", null=True, blank=True)
    rechecked_on = models.DateField("J-LISへの再照会", null=True, blank=True)
    corrected_on = models.DateField("訂正（二人で確認）", null=True, blank=True)
    member_notified_on = models.DateField("本人への通知", null=True, blank=True)
    note = models.TextField("経過メモ", blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="終了した管理者",
    )
    closed_at = models.DateTimeField("終了日時", null=True, blank=True)
    # escalated_on is derived nightly from the review: not part of the history.
    history = HistoricalRecords(excluded_fields=["escalated_on"])

    STEPS = ("held_on", "rechecked_on", "corrected_on", "member_notified_on")

    class Meta:
        verbose_name = "インシデント（紐付け誤り）"
        verbose_name_plural = "インシデント（紐付け誤り）"
        ordering = ["status", "-opened_on"]
        permissions = [("review_incident", "インシデントを確認・終了できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | Q(reviewed_at__isnull=False, closed_at__isnull=False),
                name="incident_closed_after_review",
                violation_error_message="管理者の確認が済んでいないインシデントは終了できません。",
            ),
        ]

    def __str__(self) -> str:
        return f"インシデント #{self.pk}（{self.opened_on}、{self.get_status_display()}）"
