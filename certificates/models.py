"""資格確認書, the applications that lead to them, lost-card cases, batches and notices."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from insurer.models import InsurerSettings, Office
from insurer.storage import private_storage_callable
from members.models import Member

NEED_REASON_CHOICES = [
    ("no_card", "マイナンバーカード未取得"),
    ("not_registered", "保険証利用登録なし"),
    ("deregistered", "利用登録解除（申請中を含む）"),
    ("ecert_expired", "電子証明書期限切れ"),
    ("card_returned", "カード返納"),
    ("awaiting_registration", "登録待ち（取得届で交付希望）"),
    ("lost_card", "カード紛失・更新中"),
    ("care_needs", "要配慮者"),
]


class BatchFiles(models.Model):
    """The files a batch (or one part of it) is printed from: kept in the private store,
    downloaded only through the role-checked, logged view."""

    pdf = models.FileField(
        "資格確認書PDF", upload_to="batches/", blank=True, storage=private_storage_callable
    )
    notices_pdf = models.FileField(
        "お知らせPDF", upload_to="batches/", blank=True, storage=private_storage_callable
    )
    cover_pdf = models.FileField(
        "送付書PDF", upload_to="batches/", blank=True, storage=private_storage_callable
    )
    mailing_csv = models.FileField(
        "送付リストCSV", upload_to="batches/", blank=True, storage=private_storage_callable
    )
    envelope_csv = models.FileField(
        "封筒リストCSV", upload_to="batches/", blank=True, storage=private_storage_callable
    )
    check_pdf = models.FileField(
        "封入チェックシートPDF", upload_to="batches/", blank=True, storage=private_storage_callable
    )

    class Meta:
        abstract = True


class IssueBatch(BatchFiles):
    """One issuing run: the certificates and notices printed and mailed together."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "定期発行"
        SINGLE = "single", "個別発行"

    class Status(models.TextChoices):
        ISSUED = "issued", "発行済（PDF未作成）"
        RENDERING = "rendering", "PDF作成中"
        RENDERED = "rendered", "PDF作成済（印刷許可待ち）"
        RELEASED = "released", "印刷許可済"
        FAILED = "failed", "PDF作成失敗"

    kind = models.CharField("種別", max_length=10, choices=Kind.choices)
    issued_on = models.DateField("交付日")
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.ISSUED)
    progress = models.PositiveSmallIntegerField("PDF作成の進み具合（%）", default=0)
    certificate_count = models.PositiveIntegerField("資格確認書の枚数", default=0)
    notice_count = models.PositiveIntegerField("資格情報のお知らせの枚数", default=0)
    # Frozen from 保険者設定 when the batch's envelopes are made, so a later change of the
    # setting never changes what a batch prints (a render again prints the same).
    certificate_format = models.CharField(
        "資格確認書の様式",
        max_length=8,
        blank=True,
        choices=InsurerSettings.CertificateFormat.choices,
    )
    reissue_fee = models.PositiveIntegerField("再交付手数料（円）", null=True, blank=True)
    error = models.TextField("エラー", blank=True)
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    rendered_at = models.DateTimeField("PDF作成日時", null=True, blank=True)
    released_at = models.DateTimeField("印刷許可日時", null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="印刷許可者",
    )
    history = HistoricalRecords(excluded_fields=["progress"])

    class Meta:
        verbose_name = "発行バッチ"
        verbose_name_plural = "発行バッチ"
        ordering = ["-issued_on", "-pk"]
        permissions = [("release_issuebatch", "発行バッチの印刷を許可できる")]
        constraints = [
            models.UniqueConstraint(
                fields=["issued_on"],
                condition=Q(kind="scheduled"),
                name="batch_one_scheduled_per_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.issued_on} {self.get_kind_display()} #{self.pk}"


PART_FILE_FIELDS = ("pdf", "notices_pdf", "cover_pdf", "check_pdf", "mailing_csv", "envelope_csv")


class BatchPart(BatchFiles):
    """One part of a batch's rendering: a run of its envelopes (whole offices where they
    fit, a big office in chunks; a household never split), rendered by one Celery task on
    whichever worker takes it. Machine state, not history: the batch's history says what
    happened; this row says where each part stands and which process rendered it."""

    class Status(models.TextChoices):
        PENDING = "pending", "待機中"
        RENDERING = "rendering", "作成中"
        RETRYING = "retrying", "再試行待ち"
        RENDERED = "rendered", "作成済"
        FAILED = "failed", "失敗"

    batch = models.ForeignKey(
        IssueBatch, on_delete=models.PROTECT, related_name="parts", verbose_name="発行バッチ"
    )
    sequence = models.PositiveIntegerField("部")
    first_envelope = models.PositiveIntegerField("最初の封筒番号")
    last_envelope = models.PositiveIntegerField("最後の封筒番号")
    first_symbol = models.CharField("最初の記号", max_length=8, blank=True)
    last_symbol = models.CharField("最後の記号", max_length=8, blank=True)
    envelope_count = models.PositiveIntegerField("封筒の数", default=0)
    certificate_count = models.PositiveIntegerField("資格確認書の枚数", default=0)
    notice_count = models.PositiveIntegerField("お知らせの枚数", default=0)
    rendered_count = models.PositiveIntegerField("作成済の資格確認書", default=0)
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("試行回数", default=0)
    error = models.TextField("エラー", blank=True)
    rendered_by = models.CharField("作成した処理（ホスト:PID）", max_length=100, blank=True)
    started_at = models.DateTimeField("開始日時", null=True, blank=True)
    rendered_at = models.DateTimeField("作成日時", null=True, blank=True)

    class Meta:
        verbose_name = "発行バッチの部分"
        verbose_name_plural = "発行バッチの部分"
        ordering = ["batch_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "sequence"], name="batch_part_sequence"),
        ]

    def __str__(self) -> str:
        return f"バッチ{self.batch_id} 第{self.sequence}部"

    @property
    def office_range(self) -> str:
        if self.first_symbol == self.last_symbol:
            return self.first_symbol
        return f"{self.first_symbol}〜{self.last_symbol}"


class Certificate(models.Model):
    """A 資格確認書. What it prints is frozen at issue (§6): later changes to the member
    lead to a reissue (RI-1), never to a silently different certificate."""

    class Status(models.TextChoices):
        ISSUED = "issued", "有効（交付済）"
        EXPIRED = "expired", "有効期限切れ"
        SUPERSEDED = "superseded", "再交付により無効"
        RETURNED = "returned", "返納済"
        VOIDED = "voided", "無効（未返納）"

    REASON_CHOICES = [*NEED_REASON_CHOICES, ("reissue", "再交付")]
    LIVE = ("issued", "expired")  # statuses whose validity counts for ONE-1

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="certificates", verbose_name="加入者"
    )
    batch = models.ForeignKey(
        IssueBatch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificates",
        verbose_name="発行バッチ",
    )
    reason = models.CharField("交付理由", max_length=24, choices=REASON_CHOICES)
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.ISSUED)
    issued_on = models.DateField("交付年月日")
    valid_from = models.DateField("有効開始日")
    valid_until = models.DateField("有効期限")
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        verbose_name="再交付前の確認書",
    )
    renews = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewed_by",
        verbose_name="更新前の確認書",
    )
    # --- printed, frozen at issue -------------------------------------------------
    is_dependent = models.BooleanField("被扶養者用")
    family_name = models.CharField("氏", max_length=50)
    given_name = models.CharField("名", max_length=50)
    family_name_kana = models.CharField("氏（カナ）", max_length=100)
    given_name_kana = models.CharField("名（カナ）", max_length=100)
    sex = models.CharField("性別", max_length=1, choices=Member.Sex.choices)
    birth_date = models.DateField("生年月日")
    acquired_on = models.DateField("資格取得年月日（認定年月日）")
    symbol = models.CharField("記号", max_length=8)
    number = models.CharField("番号", max_length=8)
    branch = models.CharField("枝番", max_length=2)
    relationship = models.CharField("続柄", max_length=8, choices=Member.Relationship.choices)
    insurer_number = models.CharField("保険者番号", max_length=8)
    insurer_name = models.CharField("保険者名称", max_length=100)
    insurer_address = models.CharField("保険者所在地", max_length=200)
    insured_name = models.CharField("被保険者氏名", max_length=101, blank=True)
    copay = models.PositiveSmallIntegerField("一部負担金の割合", null=True, blank=True)
    copay_effective_on = models.DateField("発効期日", null=True, blank=True)
    office_name = models.CharField("事業所名称（送付用）", max_length=100, blank=True)
    # --- afterwards -----------------------------------------------------------------
    returned_on = models.DateField("返納日", null=True, blank=True)
    voided_on = models.DateField("無効とした日", null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "資格確認書"
        verbose_name_plural = "資格確認書"
        ordering = ["-issued_on", "-pk"]
        permissions = [
            ("export_certificate", "資格確認書を出力できる"),
            ("print_certificate", "資格確認書を個別に印刷できる"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__lte=F("valid_until")),
                name="certificate_valid_from_before_until",
                violation_error_message="有効期限は有効開始日以後の日付です。",
            ),
            models.CheckConstraint(
                condition=Q(copay__isnull=True) | Q(copay__in=[2, 3]),
                name="certificate_copay_2_or_3",
            ),
        ]
        # ONE-1 on PostgreSQL: an exclusion constraint added by migration 0002
        # (certificate_one_live_per_period); the service enforces the same everywhere.
        indexes = [
            models.Index(fields=["member", "status"], name="certificate_member_status"),
            models.Index(fields=["status", "valid_until"], name="certificate_status_until"),
            models.Index(fields=["symbol", "number", "branch"], name="certificate_key"),
            models.Index(fields=["issued_on", "reason"], name="certificate_issued_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}-{self.number}-{self.branch} {self.family_name} {self.given_name}（{self.valid_until}まで）"

    @property
    def title(self) -> str:
        return "健康保険被扶養者資格確認書" if self.is_dependent else "健康保険被保険者資格確認書"

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"


class LostCardCase(models.Model):
    """A lost or stolen My Number card (§8), from the report to its closure."""

    class Status(models.TextChoices):
        OPEN = "open", "対応中"
        CLOSED = "closed", "終了"

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="lost_card_cases", verbose_name="加入者"
    )
    lost_on = models.DateField("紛失日")
    reported_on = models.DateField("保険者への届出日")
    hotline_suspended = models.BooleanField(
        "マイナンバーカードの一時利用停止を確認",
        default=False,
        help_text="マイナンバー総合フリーダイヤル（0120-95-0178、24時間）での停止。",
    )
    police_report_number = models.CharField("警察の受理番号（盗難時）", max_length=40, blank=True)
    status = models.CharField("状態", max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_on = models.DateField("終了日", null=True, blank=True)
    close_note = models.CharField("終了の理由", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "カード紛失の対応"
        verbose_name_plural = "カード紛失の対応"
        ordering = ["-reported_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", closed_on__isnull=True)
                | Q(status="closed", closed_on__isnull=False),
                name="lost_case_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} 紛失 {self.lost_on}（{self.get_status_display()}）"


class Application(models.Model):
    """An application a clerk enters and a supervisor decides (代理申請 included)."""

    class Kind(models.TextChoices):
        CARE_NEEDS = "care_needs", "要配慮者の資格確認書交付申請"
        LOST_CARD = "lost_card", "カード紛失等による資格確認書交付申請"
        DEREGISTRATION = "deregistration", "マイナ保険証の利用登録解除申請"

    class Applicant(models.TextChoices):
        SELF = "self", "本人"
        LEGAL_REPRESENTATIVE = "legal_representative", "法定代理人"
        CARER = "carer", "介助者"
        FACILITY = "facility", "施設"

    class Route(models.TextChoices):
        EMPLOYER = "employer", "事業主経由"
        DIRECT = "direct", "直接（任意継続など）"

    class Status(models.TextChoices):
        RECEIVED = "received", "受付（決裁待ち）"
        APPROVED = "approved", "承認"
        REJECTED = "rejected", "却下"
        ENDED = "ended", "終了（要配慮者の承認を終えた）"

    class Evidence(models.TextChoices):
        LONG_TERM_CARE = "long_term_care", "要介護・要支援認定"
        DISABILITY = "disability", "障害者手帳"
        FACILITY = "facility", "施設入所"
        GUARDIAN = "guardian", "成年後見人等の選任"
        DV = "dv", "DV等被害者"
        OTHER = "other", "その他（個別判断）"

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="applications", verbose_name="加入者"
    )
    kind = models.CharField("申請の種類", max_length=16, choices=Kind.choices)
    applicant_type = models.CharField(
        "申請者", max_length=24, choices=Applicant.choices, default=Applicant.SELF
    )
    applicant_name = models.CharField("申請者氏名（代理のとき）", max_length=100, blank=True)
    received_on = models.DateField("受付日")
    route = models.CharField("経路", max_length=10, choices=Route.choices, default=Route.EMPLOYER)
    status = models.CharField(
        "状態", max_length=10, choices=Status.choices, default=Status.RECEIVED
    )
    evidence = models.CharField(
        "確認した書類（要配慮者）", max_length=16, choices=Evidence.choices, blank=True
    )
    review_on = models.DateField("見直し日（要配慮者）", null=True, blank=True)
    lost_card_case = models.ForeignKey(
        LostCardCase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
        verbose_name="カード紛失の対応",
    )
    note = models.TextField("受付メモ", blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="決裁者",
    )
    decided_on = models.DateField("決裁日", null=True, blank=True)
    decision_note = models.CharField("決裁メモ", max_length=200, blank=True)
    ended_on = models.DateField("承認の終了日（要配慮者）", null=True, blank=True)
    end_note = models.CharField("終了の理由（要配慮者）", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "申請"
        verbose_name_plural = "申請"
        ordering = ["-received_on", "-pk"]
        permissions = [("decide_application", "申請を決裁できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="received") | Q(decided_on__isnull=False),
                name="application_decision_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(kind="lost_card") | Q(lost_card_case__isnull=False),
                name="application_lost_card_has_case",
                violation_error_message="紛失の申請にはカード紛失の対応を選んでください。",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="application_kind_status")]

    def __str__(self) -> str:
        return f"{self.member} {self.get_kind_display()}（{self.get_status_display()}）"


class Notice(models.Model):
    """資格情報のお知らせ for a member with a usable マイナ保険証, frozen at issue."""

    class Reason(models.TextChoices):
        NEW_MEMBER = "new_member", "新規加入"
        CHANGED = "changed", "記載事項の変更"

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="notices", verbose_name="加入者"
    )
    batch = models.ForeignKey(
        IssueBatch, on_delete=models.PROTECT, related_name="notices", verbose_name="発行バッチ"
    )
    reason = models.CharField("理由", max_length=12, choices=Reason.choices)
    issued_on = models.DateField("作成日")
    family_name = models.CharField("氏", max_length=50)
    given_name = models.CharField("名", max_length=50)
    family_name_kana = models.CharField("氏（カナ）", max_length=100)
    given_name_kana = models.CharField("名（カナ）", max_length=100)
    birth_date = models.DateField("生年月日")
    acquired_on = models.DateField("資格取得年月日")
    symbol = models.CharField("記号", max_length=8)
    number = models.CharField("番号", max_length=8)
    branch = models.CharField("枝番", max_length=2)
    insurer_number = models.CharField("保険者番号", max_length=8)
    insurer_name = models.CharField("保険者名称", max_length=100)
    copay = models.PositiveSmallIntegerField("一部負担金の割合", null=True, blank=True)
    office_name = models.CharField("事業所名称（送付用）", max_length=100, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "資格情報のお知らせ"
        verbose_name_plural = "資格情報のお知らせ"
        ordering = ["-issued_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.symbol}-{self.number}-{self.branch} {self.family_name} {self.given_name}（{self.issued_on}）"


class CertificatePrintLog(models.Model):
    """Every single reprint of a certificate from the admin (append-only)."""

    certificate = models.ForeignKey(
        Certificate, on_delete=models.PROTECT, related_name="print_logs", verbose_name="資格確認書"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="印刷者"
    )
    at = models.DateTimeField("日時", auto_now_add=True)

    class Meta:
        verbose_name = "資格確認書の個別印刷記録"
        verbose_name_plural = "資格確認書の個別印刷記録"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.certificate}"


class DownloadLog(models.Model):
    """Every download of a batch file (append-only); single reprints are CertificatePrintLog."""

    class Kind(models.TextChoices):
        CERTIFICATES_PDF = "pdf", "資格確認書PDF"
        NOTICES_PDF = "notices_pdf", "お知らせPDF"
        COVER_PDF = "cover_pdf", "送付書PDF"
        MAILING_CSV = "mailing_csv", "送付リストCSV"
        ENVELOPE_CSV = "envelope_csv", "封筒リストCSV"
        CHECK_PDF = "check_pdf", "封入チェックシートPDF"

    at = models.DateTimeField("日時", auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="取得者"
    )
    kind = models.CharField("ファイル", max_length=12, choices=Kind.choices)
    batch = models.ForeignKey(
        IssueBatch,
        on_delete=models.PROTECT,
        related_name="download_logs",
        verbose_name="発行バッチ",
    )
    part = models.ForeignKey(
        BatchPart,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="download_logs",
        verbose_name="部分",
    )
    file_name = models.CharField("ファイル名", max_length=200)
    ip_address = models.GenericIPAddressField("IPアドレス", null=True, blank=True)

    class Meta:
        verbose_name = "ダウンロード記録"
        verbose_name_plural = "ダウンロード記録"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()} {self.file_name}"


class Envelope(models.Model):
    """One envelope of a batch: everything one household gets in it, addressed to the
    insured person (a dependant's documents too), by the route of 保険者設定 — or through the
    employer when it re-sends documents of an envelope that came back."""

    class Route(models.TextChoices):
        OFFICE = "office", "事業所経由"
        DIRECT = "direct", "住所へ直接郵送"

    class Status(models.TextChoices):
        SENT = "sent", "送付"
        RETURNED = "returned", "宛先不明で返送（再送待ち）"
        RESENT = "resent", "事業所経由で再送"
        RESOLVED = "resolved", "対応済（受け取りを確認）"

    UNDELIVERED = ("returned", "resent")  # came back, receipt not yet confirmed

    batch = models.ForeignKey(
        IssueBatch, on_delete=models.PROTECT, related_name="envelopes", verbose_name="発行バッチ"
    )
    sequence = models.PositiveIntegerField("封筒番号")
    route = models.CharField("送り方", max_length=8, choices=Route.choices)
    office = models.ForeignKey(
        Office,
        to_field="symbol",
        db_column="symbol",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="記号（事業所）",
    )
    number = models.CharField("番号（世帯）", max_length=8)
    addressee = models.CharField("宛名（被保険者）", max_length=101)
    postal_code = models.CharField("郵便番号", max_length=8, blank=True)
    address = models.CharField("住所", max_length=200, blank=True)
    certificates = models.ManyToManyField(
        Certificate, related_name="envelopes", blank=True, verbose_name="資格確認書"
    )
    notices = models.ManyToManyField(
        Notice, related_name="envelopes", blank=True, verbose_name="資格情報のお知らせ"
    )
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.SENT)
    returned_on = models.DateField("戻った日", null=True, blank=True)
    return_note = models.CharField("戻ったときのメモ", max_length=200, blank=True)
    resent_in = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resent_from",
        verbose_name="再送した封筒",
    )
    resolved_on = models.DateField("対応済とした日", null=True, blank=True)
    resolve_note = models.CharField("対応のメモ", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "封筒"
        verbose_name_plural = "封筒"
        ordering = ["-batch_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "sequence"], name="envelope_unique_sequence_in_batch"
            ),
            models.UniqueConstraint(
                fields=["batch", "office", "number"], name="envelope_one_per_household_in_batch"
            ),
            models.CheckConstraint(
                condition=Q(status="sent") | Q(returned_on__isnull=False),
                name="envelope_returned_has_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "returned_on"], name="envelope_status_returned")]

    def __str__(self) -> str:
        return f"バッチ{self.batch_id} 封筒{self.sequence} {self.office_id}-{self.number} {self.addressee} 様"

    @property
    def household(self) -> str:
        return f"{self.office_id}-{self.number}"
