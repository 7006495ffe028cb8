from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from .rules import insurer_number_errors

digits_1_to_8 = RegexValidator(r"^[0-9]{1,8}$", "半角数字1〜8桁で入力してください。")
postal_code_validator = RegexValidator(
    r"^([0-9]{3}-?[0-9]{4})?$", "郵便番号は「123-4567」の形で入力してください。"
)


def validate_insurer_number(value: str) -> None:
    errors = insurer_number_errors(value)
    if errors:
        raise ValidationError(errors)


class Insurer(models.Model):
    """The 健康保険組合 itself: one per installation."""

    insurer_number = models.CharField(
        "保険者番号", max_length=8, unique=True, validators=[validate_insurer_number]
    )
    name = models.CharField("保険者名称", max_length=100)
    postal_code = models.CharField(
        "郵便番号", max_length=8, blank=True, validators=[postal_code_validator]
    )
    address = models.CharField("所在地", max_length=200)
    phone = models.CharField("電話番号", max_length=20, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "保険者"
        verbose_name_plural = "保険者"
        permissions = [
            ("import_insurer", "保険者を取り込める"),
            ("export_insurer", "保険者を出力できる"),
            ("dashboard_insurer", "ダッシュボードを見られる"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.insurer_number}）"


class InsurerSettings(models.Model):
    """Every choice domain.md leaves to the insurer, with its default. A single row."""

    class MailingSort(models.TextChoices):
        OFFICE = "office", "事業所順（事業主経由で配布）"
        POSTAL_CODE = "postal_code", "郵便番号順（住所へ直接郵送）"

    class CertificateFormat(models.TextChoices):
        CARD = "card", "カード型（A4に10枚、切り取り線付き）"
        A4 = "a4", "A4判（1人1枚、切り取り部分付き）"

    registration_deadline_days = models.PositiveSmallIntegerField(
        "オンライン資格確認への登録期限（日）",
        default=5,
        help_text="資格取得届を受け付けた日の翌日から数えて、この日数のうちにオンライン資格確認へ登録します。過ぎると「登録期限超過」のフラグが立ちます。",
    )
    certificate_validity_years = models.PositiveSmallIntegerField(
        "資格確認書の有効期間（年）",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="新しく交付する資格確認書の有効期間（1〜5年）。75歳の誕生日の前日などで、これより早く終わることがあります。",
    )
    lost_card_validity_months = models.PositiveSmallIntegerField(
        "紛失時の資格確認書の有効期間（月）",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="カード紛失の申請で交付する資格確認書の有効期間。",
    )
    awaiting_registration_validity_months = models.PositiveSmallIntegerField(
        "登録待ちの資格確認書の有効期間（月）",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="資格取得届で交付希望があり、オンライン資格確認への登録がまだの人に出す短期の資格確認書の有効期間。",
    )
    push_certificates_valid_until = models.DateField(
        "職権交付の資格確認書の統一有効期限",
        null=True,
        blank=True,
        help_text=(
            "設定すると、カード未取得・利用登録なし・登録解除・電子証明書切れ・カード返納・登録待ちで"
            "職権交付する資格確認書の有効期限をこの日にそろえます（75歳到達・任意継続・在留期限などで"
            "それより早く終わる人はその日まで）。交付日より前の日付なら通常の有効期間になります。空欄で無効。"
        ),
    )
    name_substitutions = models.TextField(
        "登録用氏名の置き換え表",
        default="髙=高\n﨑=崎\n𠮷=吉\n德=徳\n濵=浜\n栁=柳\n淸=清\n槗=橋",
        blank=True,
        help_text=(
            "オンライン資格確認に登録できない文字を、登録できる文字に置き換える表です。"
            "1行に「髙=高」のように書きます。表にない文字を含む氏名は、カナを登録用氏名の候補にします。"
        ),
    )
    round_down_to_month_end = models.BooleanField(
        "有効期限を前月末に切り下げる",
        default=True,
        help_text="オンにすると、計算した有効期限が月末でないときは前の月の末日を有効期限にします。",
    )
    renewal_lead_days = models.PositiveSmallIntegerField(
        "更新対象とする有効期限までの日数",
        default=60,
        help_text="有効期限までの日数がこれ以下になると「更新対象」のフラグが立ち、次の定期発行で新しい確認書を作ります。",
    )
    return_deadline_days = models.PositiveSmallIntegerField(
        "喪失後の返納期限（日）",
        default=5,
        help_text="資格喪失日から数えてこの日数を過ぎても返納されない確認書は「未返納」の一覧に載ります。",
    )
    my_number_retention_years = models.PositiveSmallIntegerField(
        "個人番号の保存期間（年）",
        default=7,
        validators=[MinValueValidator(1)],
        help_text="資格を失ってからこの年数を過ぎた人の個人番号は、夜間処理で削除します（削除も取扱記録に残ります）。",
    )
    # --- mailing, format and fee (issue 13) ------------------------------------------
    mailing_sort = models.CharField(
        "封筒の並び順と送り方",
        max_length=12,
        choices=MailingSort.choices,
        default=MailingSort.OFFICE,
        help_text=(
            "事業所順: 世帯ごとの封筒を事業所ごとにまとめ、事業主から本人に渡してもらいます。"
            "郵便番号順: 世帯ごとの封筒を被保険者の住所へ直接郵送します（住所のない世帯は事業所経由）。"
        ),
    )
    undelivered_after_days = models.PositiveSmallIntegerField(
        "未達として一覧に出すまでの日数",
        default=14,
        validators=[MinValueValidator(1)],
        help_text=(
            "宛先不明で戻った封筒が、戻った日からこの日数を過ぎても受け取りを確認できないとき、"
            "封筒の一覧の「未達」とダッシュボードに出します。"
        ),
    )
    certificate_format = models.CharField(
        "資格確認書の様式",
        max_length=8,
        choices=CertificateFormat.choices,
        default=CertificateFormat.CARD,
        help_text=(
            "カード型: A4用紙に10枚、切り取り線（トンボ）付き。"
            "A4判: 1人1枚のA4用紙に説明文と切り取り部分を印刷します。次の発行バッチから使います。"
        ),
    )
    reissue_fee = models.PositiveIntegerField(
        "再交付手数料（円）",
        default=0,
        help_text=(
            "再交付の送付書に印刷する手数料。0円なら「無料」と印刷します。"
            "手数料は過大にしないよう国から求められています（変更の記録は履歴に残ります）。"
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "保険者設定"
        verbose_name_plural = "保険者設定"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="insurer_settings_single_row"),
            models.CheckConstraint(
                condition=models.Q(certificate_validity_years__gte=1)
                & models.Q(certificate_validity_years__lte=5),
                name="insurer_settings_validity_1_to_5_years",
            ),
        ]

    def __str__(self) -> str:
        return "保険者設定"


class Office(models.Model):
    """事業所: its 記号 identifies it in every member's 記号・番号."""

    symbol = models.CharField("記号", max_length=8, unique=True, validators=[digits_1_to_8])
    name = models.CharField("事業所名称", max_length=100)
    postal_code = models.CharField(
        "郵便番号", max_length=8, blank=True, validators=[postal_code_validator]
    )
    address = models.CharField("所在地", max_length=200, blank=True)
    phone = models.CharField("電話番号", max_length=20, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "事業所"
        verbose_name_plural = "事業所"
        ordering = ["symbol"]
        permissions = [
            ("import_office", "事業所を取り込める"),
            ("export_office", "事業所を出力できる"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(symbol__regex=r"^[0-9]{1,8}$"), name="office_symbol_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.name}"


class JobRun(models.Model):
    """One run of a scheduled job for a business date: the record supervisors read.

    The database guarantees one running run per job (the lock) and one successful run
    per job and date (the real run); a repeat is recorded as skipped or as a re-run.
    """

    class Job(models.TextChoices):
        NIGHTLY = "nightly", "夜間処理"
        ISSUE_CERTIFICATES = "issue_certificates", "資格確認書の定期発行"

    class Status(models.TextChoices):
        RUNNING = "running", "実行中"
        SUCCEEDED = "succeeded", "完了"
        RERUN = "rerun", "再実行（変更なしの確認）"
        SKIPPED = "skipped", "見送り"
        FAILED = "failed", "失敗"

    class Trigger(models.TextChoices):
        COMMAND = "command", "コマンド（手動）"
        CELERY = "celery", "定時実行"
        TEST = "test", "テスト"

    job = models.CharField("処理", max_length=30, choices=Job.choices)
    run_date = models.DateField("処理日")
    status = models.CharField("状態", max_length=10, choices=Status.choices)
    trigger = models.CharField("起動元", max_length=20, blank=True, choices=Trigger.choices)
    started_at = models.DateTimeField("開始", auto_now_add=True)
    finished_at = models.DateTimeField("終了", null=True, blank=True)
    counts = models.JSONField("件数", default=dict, blank=True)
    note = models.CharField("備考", max_length=200, blank=True)
    error = models.TextField("エラー", blank=True)

    class Meta:
        verbose_name = "ジョブ実行記録"
        verbose_name_plural = "ジョブ実行記録"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(status="running"),
                name="job_run_one_running_per_job",
            ),
            models.UniqueConstraint(
                fields=["job", "run_date"],
                condition=models.Q(status="succeeded"),
                name="job_run_one_success_per_date",
            ),
        ]
        indexes = [models.Index(fields=["job", "run_date"], name="job_run_job_date")]

    def __str__(self) -> str:
        return f"{self.get_job_display()} {self.run_date} {self.get_status_display()}"


class LoginLock(AccessAttempt):
    """django-axes' record of failed logins for one username from one address, under a
    Japanese name for the supervisor's unlock screen (insurer/admin_logins.py)."""

    class Meta:
        proxy = True
        verbose_name = "ログインのロック"
        verbose_name_plural = "ログインのロック"


class ImportRun(models.Model):
    """One confirmed admin import, run in the background (a Celery task): the record the
    progress page reads. ``rows_done`` is written while the import's own transaction is
    still open (on PostgreSQL through a second connection), so a clerk sees it move."""

    class Status(models.TextChoices):
        QUEUED = "queued", "待機中"
        RUNNING = "running", "取込中"
        SUCCEEDED = "succeeded", "完了"
        FAILED = "failed", "失敗"

    resource = models.CharField("取込の種類", max_length=200)
    file_name = models.CharField("ファイル名", max_length=255, blank=True)
    upload_name = models.CharField("一時ファイル", max_length=255)
    input_format = models.CharField("形式", max_length=10)
    encoding = models.CharField("文字コード", max_length=30, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="実行者",
    )
    status = models.CharField("状態", max_length=10, choices=Status.choices, default="queued")
    rows_done = models.PositiveIntegerField("処理済みの行", default=0)
    rows_total = models.PositiveIntegerField("行数", default=0)
    counts = models.JSONField("件数", default=dict, blank=True)
    problems = models.JSONField("誤り", default=list, blank=True)
    problems_total = models.PositiveIntegerField("誤りの件数", default=0)
    created_at = models.DateTimeField("受付", auto_now_add=True)
    finished_at = models.DateTimeField("終了", null=True, blank=True)

    class Meta:
        verbose_name = "ファイル取込の実行"
        verbose_name_plural = "ファイル取込の実行"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} {self.get_status_display()}"
