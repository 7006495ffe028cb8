from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Concat, LPad
from simple_history.models import HistoricalRecords

from insurer.models import Office, digits_1_to_8, postal_code_validator

from .rules import mask_my_number, unregistrable_characters

two_digits = RegexValidator(r"^[0-9]{2}$", "枝番は半角数字2桁で入力してください。")


# 記号 and 番号 are digit strings of varying length: padded, they sort as numbers. The id
# last makes the order total, so the admin adds nothing the index cannot serve.
NUMERIC_KEY_ORDER = (
    LPad("office_id", 8, models.Value("0")),
    LPad("number", 8, models.Value("0")),
    F("branch"),
    F("id"),
)


class Member(models.Model):
    """A person in the register: an insured person (本人) or a dependent (被扶養者).

    The household is (記号, 番号): its insured person is the row with relationship
    ``self``; every other row with the same 記号・番号 is a dependent of that person.
    """

    class Relationship(models.TextChoices):
        SELF = "self", "本人"
        SPOUSE = "spouse", "配偶者"
        CHILD = "child", "子"
        PARENT = "parent", "父母"
        OTHER = "other", "その他"

    class Sex(models.TextChoices):
        MALE = "1", "男"
        FEMALE = "2", "女"

    office = models.ForeignKey(
        Office,
        to_field="symbol",
        db_column="symbol",
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name="記号（事業所）",
    )
    number = models.CharField("番号", max_length=8, validators=[digits_1_to_8])
    branch = models.CharField("枝番", max_length=2, validators=[two_digits])
    relationship = models.CharField("続柄", max_length=8, choices=Relationship.choices)
    family_name = models.CharField("氏", max_length=50)
    given_name = models.CharField("名", max_length=50)
    family_name_kana = models.CharField("氏（カナ）", max_length=100)
    given_name_kana = models.CharField("名（カナ）", max_length=100)
    # Search columns, kept by the database: names without spaces, for prefix search.
    name_search = models.GeneratedField(
        expression=Concat("family_name", "given_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
        verbose_name="氏名（検索用）",
    )
    kana_search = models.GeneratedField(
        expression=Concat("family_name_kana", "given_name_kana"),
        output_field=models.CharField(max_length=200),
        db_persist=True,
        verbose_name="カナ（検索用）",
    )
    birth_date = models.DateField("生年月日")
    sex = models.CharField("性別", max_length=1, choices=Sex.choices)
    postal_code = models.CharField(
        "郵便番号", max_length=8, blank=True, validators=[postal_code_validator]
    )
    address = models.CharField("住所", max_length=200, blank=True)
    acquired_on = models.DateField("資格取得日", help_text="被扶養者は認定日。")
    lost_on = models.DateField(
        "資格喪失日", null=True, blank=True, help_text="最後に資格がある日の翌日。"
    )
    loss_reason = models.CharField("喪失事由", max_length=30, blank=True)
    standard_monthly_remuneration = models.PositiveIntegerField(
        "標準報酬月額（円）", null=True, blank=True, help_text="本人のみ。"
    )
    has_income_reduction = models.BooleanField(
        "基準収入額適用", default=False, help_text="基準収入額適用申請が認められている。"
    )
    notified_on = models.DateField("資格取得届の受付日", null=True, blank=True)
    oqs_registered_on = models.DateField("オンライン資格確認への登録日", null=True, blank=True)
    voluntary_until = models.DateField("任意継続の最終日", null=True, blank=True)
    residence_expires_on = models.DateField("在留期限", null=True, blank=True)
    is_certificate_requested = models.BooleanField(
        "資格確認書の交付希望",
        default=False,
        help_text="資格取得届・被扶養者異動届で資格確認書の交付を希望している（発行要否）。",
    )
    registered_family_name = models.CharField(
        "登録用氏名（氏）",
        max_length=50,
        blank=True,
        help_text="オンライン資格確認に登録できる文字（JIS第1・第2水準）だけの氏名。空欄なら届出氏名と同じ。",
    )
    registered_given_name = models.CharField("登録用氏名（名）", max_length=50, blank=True)
    # Kept by member_normalize (import, admin, services): the filed name has characters the
    # national system cannot hold (ID-4), so the nightly worklist can find them in SQL.
    has_unregistrable_name = models.BooleanField(
        "登録できない文字を含む氏名", default=False, editable=False
    )
    created_at = models.DateTimeField("登録日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(excluded_fields=["name_search", "kana_search"])

    class Meta:
        verbose_name = "加入者"
        verbose_name_plural = "加入者"
        ordering = ["office_id", "number", "branch"]
        permissions = [
            ("import_member", "加入者を取り込める"),
            ("export_member", "加入者を出力できる"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["office", "number", "branch"], name="member_unique_symbol_number_branch"
            ),
            models.UniqueConstraint(
                fields=["office", "number"],
                condition=Q(relationship="self"),
                name="member_one_self_per_household",
                violation_error_message="この記号・番号には本人（self）がすでにいます。",
            ),
            models.CheckConstraint(
                condition=Q(lost_on__isnull=True) | Q(lost_on__gt=F("acquired_on")),
                name="member_loss_after_acquisition",
                violation_error_message="資格喪失日（lost_on）は資格取得日（acquired_on）より後の日付にしてください。",
            ),
            models.CheckConstraint(
                condition=Q(branch__regex=r"^[0-9]{2}$"),
                name="member_branch_two_digits",
                violation_error_message="枝番は半角数字2桁です。",
            ),
            models.CheckConstraint(
                condition=Q(number__regex=r"^[0-9]{1,8}$"),
                name="member_number_digits",
                violation_error_message="番号は半角数字1〜8桁です。",
            ),
            models.CheckConstraint(
                condition=Q(sex__in=["1", "2"]),
                name="member_sex_code",
                violation_error_message="性別は 1（男）または 2（女）です。",
            ),
            models.CheckConstraint(
                condition=Q(relationship__in=["self", "spouse", "child", "parent", "other"]),
                name="member_relationship_code",
                violation_error_message="続柄は self, spouse, child, parent, other のいずれかです。",
            ),
            models.CheckConstraint(
                condition=Q(standard_monthly_remuneration__isnull=True) | Q(relationship="self"),
                name="member_remuneration_self_only",
                violation_error_message="標準報酬月額は本人（self）にだけ入力します。",
            ),
        ]
        indexes = [
            # Prefix search (LIKE 'ヤマダ%') on PostgreSQL needs the pattern operator class.
            models.Index(
                fields=["kana_search"], name="member_kana_prefix", opclasses=["text_pattern_ops"]
            ),
            models.Index(
                fields=["name_search"], name="member_name_prefix", opclasses=["text_pattern_ops"]
            ),
            models.Index(fields=["birth_date"], name="member_birth_date"),
            models.Index(
                fields=["id"],
                condition=Q(has_unregistrable_name=True),
                name="member_unregistrable_name",
            ),
            # The admin list's order: numbers as numbers (1001-2 before 1001-10).
            models.Index(*NUMERIC_KEY_ORDER, name="member_numeric_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.full_name}"

    def clean(self) -> None:
        """ID-4: once a registered name is given, what is printed must be registrable."""
        if not (self.registered_family_name or self.registered_given_name):
            return
        errors = {}
        for part, label in (("family", "氏"), ("given", "名")):
            printed = getattr(self, f"registered_{part}_name") or getattr(self, f"{part}_name")
            bad = unregistrable_characters(printed)
            if bad:
                errors[f"registered_{part}_name"] = (
                    f"登録用氏名（{label}）にオンライン資格確認で使えない文字（{bad}）があります。"
                    "JIS第1・第2水準の文字で入力してください。"
                )
        if errors:
            raise ValidationError(errors)

    @property
    def symbol(self) -> str:
        return self.office_id

    @property
    def key(self) -> str:
        """記号-番号-枝番, the way clerks write it."""
        return f"{self.office_id}-{self.number}-{self.branch}"

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def printed_family_name(self) -> str:
        """ID-4: the registered name (登録用氏名) is what certificates and notices print;
        empty means the filed name is its own registered name."""
        return self.registered_family_name or self.family_name

    @property
    def printed_given_name(self) -> str:
        return self.registered_given_name or self.given_name

    @property
    def printed_full_name(self) -> str:
        return f"{self.printed_family_name} {self.printed_given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana} {self.given_name_kana}"

    @property
    def is_insured(self) -> bool:
        return self.relationship == self.Relationship.SELF


class MynaStatus(models.Model):
    """A person's マイナ保険証 status as the national data last said (domain.md §4).

    Written only by the national data import and by a deregistration application
    (``dereg_requested_on``); what a member says on the phone never changes it.
    """

    class Card(models.TextChoices):
        NONE = "none", "未取得"
        HELD = "held", "保有"
        RETURNED = "returned", "返納"

    class Registration(models.TextChoices):
        UNREGISTERED = "unregistered", "未登録"
        REGISTERED = "registered", "登録済"
        DEREGISTERED = "deregistered", "登録解除済"

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="myna_status",
        verbose_name="加入者",
    )
    card = models.CharField("マイナンバーカード", max_length=8, choices=Card.choices)
    registration = models.CharField("保険証利用登録", max_length=12, choices=Registration.choices)
    ecert_expires_on = models.DateField("電子証明書の有効期限", null=True, blank=True)
    as_of = models.DateField("データ基準日")
    dereg_requested_on = models.DateField(
        "利用登録解除の申請日",
        null=True,
        blank=True,
        help_text="保険者が解除申請を受け付けた日。国のデータが解除済になるまで残る。",
    )
    updated_at = models.DateTimeField("更新日時", auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "マイナ保険証の状態"
        verbose_name_plural = "マイナ保険証の状態"
        permissions = [
            ("import_mynastatus", "マイナ保険証の状態を取り込める"),
            ("export_mynastatus", "マイナ保険証の状態を出力できる"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(card__in=["none", "held", "returned"]), name="myna_status_card_code"
            ),
            models.CheckConstraint(
                condition=Q(registration__in=["unregistered", "registered", "deregistered"]),
                name="myna_status_registration_code",
            ),
        ]
        indexes = [
            models.Index(fields=["registration", "card"], name="myna_status_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_card_display()}・{self.get_registration_display()}（{self.as_of}時点）"

    @property
    def is_dereg_requested(self) -> bool:
        return self.dereg_requested_on is not None


class MyNumber(models.Model):
    """The My Number vault (domain.md §11): one encrypted number per person.

    ``ciphertext`` is a Fernet token (keys from the environment, rotatable);
    ``lookup_hash`` is an HMAC for exact look-up. Neither is ever in history.
    """

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="my_number",
        verbose_name="加入者",
    )
    ciphertext = models.TextField("暗号文", editable=False)
    lookup_hash = models.CharField("照合用ハッシュ", max_length=64, unique=True, editable=False)
    last4 = models.CharField("下4桁", max_length=4, editable=False)
    registered_at = models.DateTimeField("登録日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)
    history = HistoricalRecords(excluded_fields=["ciphertext", "lookup_hash"])

    class Meta:
        verbose_name = "個人番号"
        verbose_name_plural = "個人番号"
        permissions = [("reveal_mynumber", "個人番号を表示できる")]

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return mask_my_number(self.last4)


class MyNumberHashKey(models.Model):
    """Which MY_NUMBER_HASH_KEY made the stored look-up hashes: an HMAC of a fixed text
    under the key (never the key). One row. A process whose key gives another fingerprint
    refuses to work until `manage.py rehash_my_numbers` has recomputed the hashes."""

    fingerprint = models.CharField("鍵の指紋", max_length=64)
    recorded_at = models.DateTimeField("記録日時", auto_now=True)

    class Meta:
        verbose_name = "照合用ハッシュ鍵の指紋"
        verbose_name_plural = "照合用ハッシュ鍵の指紋"

    def __str__(self) -> str:
        return f"{self.fingerprint[:8]}…"


class MyNumberAccessLog(models.Model):
    """Append-only record of every reveal, registration, change and deletion (§11)."""

    class Action(models.TextChoices):
        REVEAL = "reveal", "表示"
        REGISTER = "register", "登録"
        CHANGE = "change", "変更"
        DELETE = "delete", "削除"

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name="加入者"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="操作者",
    )
    action = models.CharField("操作", max_length=10, choices=Action.choices)
    reason = models.TextField("理由")
    ip_address = models.GenericIPAddressField("IPアドレス", null=True, blank=True)
    at = models.DateTimeField("日時", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "個人番号の取扱記録"
        verbose_name_plural = "個人番号の取扱記録"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()}"


class Flag(models.Model):
    """The worklist (domain.md §9): opened and closed by the nightly job, dates kept.

    A row is never edited except to close it, and records the runs that opened and
    closed it, so it is its own audit trail.
    """

    class Kind(models.TextChoices):
        CERTIFICATE_NEEDED = "certificate_needed", "資格確認書が必要"
        RENEWAL_DUE = "renewal_due", "更新対象"
        REISSUE_NEEDED = "reissue_needed", "再交付が必要"
        NAME_UNREGISTRABLE = "name_unregistrable", "登録用氏名の確認待ち（登録できない文字）"
        RETURN_REQUESTED = "return_requested", "返納依頼"
        REGISTRATION_OVERDUE = "registration_overdue", "オンライン資格確認への登録遅れ"
        TURNING_70 = "turning_70", "来月70歳（高齢受給者）"
        TURNING_75 = "turning_75", "来月75歳（後期高齢者医療）"

    class Reason(models.TextChoices):
        NONE = "", "—"
        NO_CARD = "no_card", "マイナンバーカード未取得"
        NOT_REGISTERED = "not_registered", "保険証利用登録なし"
        DEREGISTERED = "deregistered", "利用登録解除（申請中を含む）"
        ECERT_EXPIRED = "ecert_expired", "電子証明書期限切れ"
        CARD_RETURNED = "card_returned", "カード返納"
        AWAITING_REGISTRATION = "awaiting_registration", "登録待ち（取得届で交付希望）"
        LOST_CARD = "lost_card", "カード紛失・更新中"
        CARE_NEEDS = "care_needs", "要配慮者"

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="flags", verbose_name="加入者"
    )
    kind = models.CharField("フラグ", max_length=24, choices=Kind.choices)
    reason = models.CharField("理由", max_length=24, choices=Reason.choices, blank=True)
    opened_on = models.DateField("発生日")
    closed_on = models.DateField("解消日", null=True, blank=True)
    opened_by = models.ForeignKey(
        "insurer.JobRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="発生させた実行",
    )
    closed_by = models.ForeignKey(
        "insurer.JobRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="解消した実行",
    )

    class Meta:
        verbose_name = "対応フラグ"
        verbose_name_plural = "対応フラグ（ワークリスト）"
        ordering = ["-opened_on", "-id"]
        permissions = [("export_flag", "対応フラグを出力できる")]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind"],
                condition=Q(closed_on__isnull=True),
                name="flag_one_open_per_kind",
            ),
        ]
        indexes = [
            # The worklist's orderings, read straight off these (no sort of the open flags).
            models.Index(
                fields=["kind", "reason", "opened_on", "id"],
                condition=Q(closed_on__isnull=True),
                name="flag_open_worklist",
            ),
            models.Index(
                fields=["opened_on", "id"],
                condition=Q(closed_on__isnull=True),
                name="flag_open_recent",
            ),
        ]

    def __str__(self) -> str:
        reason = f"（{self.get_reason_display()}）" if self.reason else ""
        return f"{self.get_kind_display()}{reason}"
