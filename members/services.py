"""Every write to the member register, each in a transaction with a history reason."""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from insurer.bulk import (
    bulk_insert,
    bulk_insert_with_history,
    bulk_save_with_history,
    instance_maker,
)
from insurer.history import history_user, save_with_history

from . import vault
from .models import Member, MynaStatus, MyNumber, MyNumberAccessLog, MyNumberHashKey
from .rules import (
    born_after_for_under,
    is_registrable_name,
    loss_at_75,
    my_number_error,
    normalize_kana,
    normalize_my_number,
    status_row_is_stale,
)
from .selectors import Anniversary

MY_NUMBER_IN_USE = "この個人番号は別の加入者に登録されています。"
REVEAL_REASON_REQUIRED = "表示する理由を入力してください。"
REVEAL_NOT_PERMITTED = "個人番号を表示する権限がありません。"
DEPENDENT_WITHOUT_INSURED = "同じ記号・番号の本人（続柄 self）が登録されていません。"
STATUS_STALE = "基準日が登録済みのデータより古いため適用しません。"


class VaultError(Exception):
    """A vault-wide job (rotation, re-hash) cannot be done; nothing was changed."""


def member_normalize(member: Member, *, previous_name: tuple[str, str] | None = None) -> None:
    """Kana to full-width katakana, names trimmed, the ID-4 mark kept (import, admin and
    services alike). When the filed name changed (`previous_name` was the stored one) and
    the same write gives no registered name, the old registered name no longer applies."""
    for name in ("family_name", "given_name", "registered_family_name", "registered_given_name"):
        setattr(member, name, (getattr(member, name) or "").strip())
    member.family_name_kana = normalize_kana(member.family_name_kana)
    member.given_name_kana = normalize_kana(member.given_name_kana)
    if previous_name is not None and previous_name != (member.family_name, member.given_name):
        member.registered_family_name = member.registered_given_name = ""
    member.has_unregistrable_name = not is_registrable_name(member.family_name + member.given_name)


def member_validate_household(member: Member) -> None:
    """A dependent needs the insured person (relationship self) of the same 記号・番号."""
    if member.is_insured:
        return
    has_insured = Member.objects.filter(
        office_id=member.office_id, number=member.number, relationship=Member.Relationship.SELF
    ).exists()
    if not has_insured:
        raise ValidationError({"relationship": DEPENDENT_WITHOUT_INSURED})


@transaction.atomic
def member_save(*, member: Member, user: AbstractBaseUser | None, reason: str) -> Member:
    """Create or update one member: normalise, validate, save with a history reason."""
    member_normalize(member)
    member.full_clean()
    member_validate_household(member)
    save_with_history(member, reason=reason, user=user, clean=False)  # cleaned above
    return member


@transaction.atomic
def member_confirm_registered_name(
    *, member: Member, family_name: str, given_name: str, user: AbstractBaseUser | None
) -> Member:
    """ID-4: a clerk confirms the name the national system will hold (登録用氏名); the
    filed name stays as it is. The nightly run then closes `name_unregistrable`, and a
    certificate printed with the old name is reissued (RI-1)."""
    member.registered_family_name, member.registered_given_name = family_name, given_name
    member_normalize(member)
    member.full_clean()
    save_with_history(member, reason="登録用氏名を確認", user=user, clean=False)
    return member


@transaction.atomic
def my_number_register(
    *, member: Member, value: str, user: AbstractBaseUser | None, reason: str
) -> MyNumber:
    """Store (or replace) a person's My Number: validated, encrypted, hashed, logged."""
    error = my_number_error(value)
    if error:
        raise ValidationError({"my_number": error})
    number = normalize_my_number(value)
    digest = vault.lookup_hash(number)
    if MyNumber.objects.filter(lookup_hash=digest).exclude(member=member).exists():
        raise ValidationError({"my_number": MY_NUMBER_IN_USE})
    existing = MyNumber.objects.filter(member=member).first()
    if existing is not None and existing.lookup_hash == digest:
        return existing
    record = existing or MyNumber(member=member)
    record.ciphertext = vault.encrypt(number)
    record.lookup_hash = digest
    record.last4 = number[-4:]
    try:
        with transaction.atomic():  # someone registering the same number at this moment
            save_with_history(record, reason=reason, user=user, clean=False)
    except IntegrityError:
        raise ValidationError({"my_number": MY_NUMBER_IN_USE}) from None
    MyNumberAccessLog.objects.create(
        member=member,
        user=history_user(user),
        action=MyNumberAccessLog.Action.CHANGE if existing else MyNumberAccessLog.Action.REGISTER,
        reason=reason,
    )
    return record


@transaction.atomic
def my_number_reveal(
    *, member: Member, user: AbstractBaseUser, reason: str, ip_address: str | None = None
) -> str:
    """Return the plain My Number to a permitted user, with a reason; always logged."""
    if not user.has_perm("members.reveal_mynumber"):
        raise PermissionDenied(REVEAL_NOT_PERMITTED)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": REVEAL_REASON_REQUIRED})
    record = MyNumber.objects.get(member=member)
    try:
        plain = vault.decrypt(record.ciphertext)
    except vault.KeyMissing as error:
        raise ValidationError(str(error)) from None
    MyNumberAccessLog.objects.create(
        member=member,
        user=user,
        action=MyNumberAccessLog.Action.REVEAL,
        reason=reason,
        ip_address=ip_address,
    )
    return plain


def _member_keys(member_ids: list[int], limit: int = 10) -> str:
    """記号-番号-枝番 of a few members, for a message (never their numbers)."""
    members = Member.objects.select_related("office").in_bulk(member_ids[:limit])
    keys = "、".join(members[pk].key for pk in member_ids[:limit] if pk in members)
    return keys + (f" ほか{len(member_ids) - limit}人" if len(member_ids) > limit else "")


def _unreadable_error(member_ids: list[int]) -> VaultError:
    return VaultError(
        f"{len(member_ids):,}件の個人番号を復号できませんでした（{_member_keys(member_ids)}）。"
        "暗号化した古い鍵が MY_NUMBER_KEYS にありません。外した鍵を末尾に戻して"
        "やり直してください。何も変更していません。"
    )


@transaction.atomic
def my_number_rotate_keys(*, batch_size: int = 2000) -> int:
    """Re-encrypt every number with the newest key of MY_NUMBER_KEYS (the look-up hashes
    stay: they depend on MY_NUMBER_HASH_KEY only, see my_numbers_rehash). All or nothing:
    a number no configured key decrypts raises VaultError and changes nothing."""
    keys = vault.EncryptionKeys()  # built once, not per row; refuses a changed hash key
    count = 0
    unreadable: list[int] = []
    batch: list[MyNumber] = []
    for record in MyNumber.objects.only("member_id", "ciphertext").iterator(chunk_size=batch_size):
        try:
            record.ciphertext = keys.rotate(record.ciphertext)
        except vault.KeyMissing:
            unreadable.append(record.member_id)
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            MyNumber.objects.bulk_update(batch, ["ciphertext"])
            count += len(batch)
            batch = []
    if unreadable:
        raise _unreadable_error(unreadable)  # rolls back the batches already written
    MyNumber.objects.bulk_update(batch, ["ciphertext"])
    return count + len(batch)


@transaction.atomic
def my_numbers_rehash(*, batch_size: int = 2000) -> int:
    """Recompute every look-up hash with the current MY_NUMBER_HASH_KEY from the decrypted
    numbers and store the key's fingerprint: the one way to change the hash key. All or
    nothing: an undecryptable number, or one number held by two people, raises VaultError
    naming the members (by 記号-番号-枝番) and changes nothing."""
    MyNumberHashKey.objects.select_for_update().filter(pk=1).first()  # one re-hash at a time
    keys = vault.EncryptionKeys(check_hash_key=False)
    owner_of: dict[str, int] = {}
    unreadable: list[int] = []
    shared: list[int] = []
    batch: list[MyNumber] = []
    count = 0
    for record in MyNumber.objects.only("member_id", "ciphertext", "lookup_hash").iterator(
        chunk_size=batch_size
    ):
        try:
            digest = keys.lookup_hash(keys.decrypt(record.ciphertext))
        except vault.KeyMissing:
            unreadable.append(record.member_id)
            continue
        if digest in owner_of:
            shared.extend((owner_of[digest], record.member_id))
            continue
        owner_of[digest] = record.member_id
        if record.lookup_hash != digest:
            record.lookup_hash = digest
            batch.append(record)
        if len(batch) >= batch_size:
            MyNumber.objects.bulk_update(batch, ["lookup_hash"])
            count += len(batch)
            batch = []
    if unreadable:
        raise _unreadable_error(unreadable)
    if shared:
        raise VaultError(
            f"同じ個人番号が複数の加入者に登録されています（{_member_keys(shared)}）。"
            "元の鍵に戻して誤った方の個人番号を訂正してから、やり直してください。"
            "何も変更していません。"
        )
    MyNumber.objects.bulk_update(batch, ["lookup_hash"])
    MyNumberHashKey.objects.update_or_create(
        pk=1, defaults={"fingerprint": vault.hash_key_fingerprint(keys.hash_key.decode())}
    )
    transaction.on_commit(vault.forget_verified_hash_keys)
    return count + len(batch)


def myna_status_apply(
    *,
    status: MynaStatus,
    card: str,
    registration: str,
    ecert_expires_on: date | None,
    as_of: date,
) -> bool:
    """Apply one national data row to a status (unsaved). False when the row is stale.

    National data showing ``deregistered`` completes a pending deregistration.
    """
    if status_row_is_stale(stored_as_of=status.as_of, row_as_of=as_of):
        return False
    status.card = card
    status.registration = registration
    status.ecert_expires_on = ecert_expires_on
    status.as_of = as_of
    if registration == MynaStatus.Registration.DEREGISTERED:
        status.dereg_requested_on = None
    return True


AS_OF_NOT_IN_FUTURE = "基準日が未来の日付ではないため、取り消すものはありません。"
AS_OF_UNDONE = "誤った未来の基準日（{wrong}）を取り消し"
NO_EARLIER_AS_OF = date(1900, 1, 1)


@transaction.atomic
def myna_status_undo_future_as_of(
    *, status: MynaStatus, today: date, user: AbstractBaseUser | None
) -> MynaStatus:
    """A status dated in the future (a wrong national row, e.g. as_of 9999-12-31) makes
    every later row stale. Back to the last recorded state dated no later than today; if
    there is none, the values stay and as_of becomes 1900-01-01, so the next row applies."""
    status = MynaStatus.objects.select_for_update().get(pk=status.pk)
    if status.as_of <= today:
        raise ValidationError(AS_OF_NOT_IN_FUTURE)
    wrong = status.as_of
    previous = status.history.filter(as_of__lte=today).order_by("-history_date").first()
    if previous is None:
        status.as_of = NO_EARLIER_AS_OF
    else:
        for field in ("as_of", "card", "registration", "ecert_expires_on", "dereg_requested_on"):
            setattr(status, field, getattr(previous, field))
    save_with_history(status, reason=AS_OF_UNDONE.format(wrong=wrong.isoformat()), user=user)
    return status


@transaction.atomic
def myna_status_request_deregistration(
    *, member: Member, requested_on: date, user: AbstractBaseUser | None
) -> MynaStatus:
    """A deregistration application was accepted: the person is `dereg_requested`."""
    status = MynaStatus.objects.select_for_update().filter(member=member).first()
    if status is None:
        raise ValidationError("マイナ保険証の状態データがないため、解除申請を記録できません。")
    status.dereg_requested_on = requested_on
    save_with_history(status, reason="利用登録解除の申請を受付", user=user)
    return status


LOSS_REASONS = {
    "late_elderly": "75歳到達により資格喪失（後期高齢者医療へ移行）",
    "insured_lost": "被保険者の75歳到達により被扶養者の資格喪失",
}
LOSS_CORRECTED = "届出の資格喪失日（{filed}）を75歳到達による喪失日に訂正"


@transaction.atomic
def members_apply_loss_at_75(*, as_of: date) -> int:
    """AGE-4 on `as_of`: record the loss of everyone who has reached 75, and of the
    dependents of an insured person whose membership ends that way, with a history reason;
    a filed loss date later than that is corrected, whichever night runs. Reads only the
    people concerned (indexed by birth date); returns how many were updated."""
    cutoff = born_after_for_under(as_of, 75)
    insured = Member.objects.filter(
        office_id=OuterRef("office_id"),
        number=OuterRef("number"),
        relationship=Member.Relationship.SELF,
    )
    # The households whose insured person's membership ends at 75 by `as_of` (indexed by
    # birth date), each with that day: few rows, which the dependants are matched against.
    household_at_75 = (
        insured.filter(birth_date__lte=cutoff)
        .annotate(day=Anniversary("birth_date", 75))
        .filter(Q(lost_on__isnull=True) | Q(lost_on__gte=F("day")))
    )
    reached_75 = Member.objects.filter(birth_date__lte=cutoff).filter(
        Q(lost_on__isnull=True) | Q(lost_on__gt=Anniversary("birth_date", 75))
    )
    # One EXISTS (no OR around it), so that PostgreSQL hashes the few households and
    # scans the register once, rather than probing the index once per dependant.
    of_insured_75 = Member.objects.exclude(relationship=Member.Relationship.SELF).filter(
        Exists(household_at_75.filter(day__lt=Coalesce(OuterRef("lost_on"), Value(date.max))))
    )
    candidates = {
        member.pk: member
        for queryset in (reached_75, of_insured_75)
        for member in queryset.order_by().annotate(
            insured_birth_date=Subquery(insured.values("birth_date")[:1]),
            insured_lost_on=Subquery(insured.values("lost_on")[:1]),
        )
    }.values()
    changed: dict[str, list[Member]] = {}
    now = timezone.now()
    for member in candidates:
        loss = loss_at_75(
            birth_date=member.birth_date,
            acquired_on=member.acquired_on,
            lost_on=member.lost_on,
            is_insured=member.is_insured,
            insured_birth_date=None if member.is_insured else member.insured_birth_date,
            insured_lost_on=None if member.is_insured else member.insured_lost_on,
            as_of=as_of,
        )
        if loss is None:
            continue
        reason = LOSS_REASONS[loss.reason]
        if member.lost_on is not None:
            reason = LOSS_CORRECTED.format(filed=member.lost_on.isoformat())
        member.lost_on, member.loss_reason = loss.lost_on, loss.reason
        member.updated_at = now  # a clerk's form opened before this is then refused as stale
        changed.setdefault(reason, []).append(member)
    for reason, members in changed.items():  # a few reasons, each one UPDATE … FROM
        bulk_save_with_history(members, Member, reason=reason)
    return sum(len(members) for members in changed.values())


RETENTION_REASON = "保存期間の満了により削除"


@transaction.atomic
def my_numbers_purge_expired(*, as_of: date, retention_years: int) -> int:
    """§11: delete the number (the rest of the record stays) once `retention_years` have
    passed since the loss of membership; every deletion is logged."""
    cutoff = born_after_for_under(as_of, retention_years)  # the same date arithmetic
    expired = MyNumber.objects.filter(member__lost_on__isnull=False, member__lost_on__lte=cutoff)
    member_ids = list(expired.values_list("member_id", flat=True))
    MyNumberAccessLog.objects.bulk_create(
        MyNumberAccessLog(
            member_id=member_id, action=MyNumberAccessLog.Action.DELETE, reason=RETENTION_REASON
        )
        for member_id in member_ids
    )
    for record in expired:
        record._change_reason = RETENTION_REASON
        record.delete()
    return len(member_ids)


@transaction.atomic
def my_numbers_register_bulk(
    *,
    numbers: dict[int, str],
    user: AbstractBaseUser | None,
    reason: str,
    digests: dict[int, str] | None = None,
    new_member_ids: frozenset[int] | set[int] = frozenset(),
) -> int:
    """`my_number_register` for many members at once ({member id: valid plain number}),
    for imports: a few queries per chunk instead of five per row. Numbers must already be
    validated and free (the import checks both for the whole file first). `digests`
    ({member id: look-up hash}) are the hashes the import computed already;
    `new_member_ids` were inserted by the same import and have no number stored yet."""
    keys = vault.EncryptionKeys()
    new_number, new_log = instance_maker(MyNumber), instance_maker(MyNumberAccessLog)
    stored = [member_id for member_id in numbers if member_id not in new_member_ids]
    existing = MyNumber.objects.in_bulk(stored) if stored else {}
    created, changed, logs = [], [], []
    recorded_user = history_user(user)
    user_id = recorded_user.pk if recorded_user is not None else None
    for member_id, plain in numbers.items():
        digest = digests[member_id] if digests else keys.lookup_hash(plain)
        record = existing.get(member_id)
        if record is not None and record.lookup_hash == digest:
            continue
        target = record or new_number(member_id=member_id)
        target.ciphertext, target.lookup_hash, target.last4 = (
            keys.encrypt(plain),
            digest,
            plain[-4:],
        )
        (changed if record else created).append(target)
        action = MyNumberAccessLog.Action.CHANGE if record else MyNumberAccessLog.Action.REGISTER
        logs.append(new_log(member_id=member_id, user_id=user_id, action=action, reason=reason))
    # The history rows are copied by the server from the rows written (the changed
    # records were loaded whole).
    bulk_insert_with_history(created, MyNumber, reason=reason, user=user, history_in_sql=True)
    bulk_save_with_history(changed, MyNumber, reason=reason, user=user, history_in_sql=True)
    bulk_insert(logs, MyNumberAccessLog)
    return len(logs)
