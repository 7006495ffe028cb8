"""Every write to the member register, each in a transaction with a history reason."""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from simple_history.utils import bulk_update_with_history

from insurer.bulk import bulk_insert_with_history
from insurer.history import history_user, save_with_history

from . import vault
from .models import Member, MynaStatus, MyNumber, MyNumberAccessLog
from .rules import (
    born_after_for_under,
    loss_at_75,
    my_number_error,
    normalize_kana,
    normalize_my_number,
    status_row_is_stale,
)

MY_NUMBER_IN_USE = "この個人番号は別の加入者に登録されています。"
REVEAL_REASON_REQUIRED = "表示する理由を入力してください。"
REVEAL_NOT_PERMITTED = "個人番号を表示する権限がありません。"
DEPENDENT_WITHOUT_INSURED = "同じ記号・番号の本人（続柄 self）が登録されていません。"
STATUS_STALE = "基準日が登録済みのデータより古いため適用しません。"


def member_normalize(member: Member) -> None:
    """Kana to full-width katakana, names trimmed (import, admin and services alike)."""
    member.family_name = (member.family_name or "").strip()
    member.given_name = (member.given_name or "").strip()
    member.family_name_kana = normalize_kana(member.family_name_kana)
    member.given_name_kana = normalize_kana(member.given_name_kana)


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
    save_with_history(record, reason=reason, user=user, clean=False)
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
    MyNumberAccessLog.objects.create(
        member=member,
        user=user,
        action=MyNumberAccessLog.Action.REVEAL,
        reason=reason,
        ip_address=ip_address,
    )
    return vault.decrypt(record.ciphertext)


@transaction.atomic
def my_number_rotate_keys(*, batch_size: int = 2000) -> int:
    """Re-encrypt every number with the newest key and recompute the look-up hashes."""
    keys = vault.EncryptionKeys()  # built once, not per row
    count = 0
    batch: list[MyNumber] = []
    for record in MyNumber.objects.only("member_id", "ciphertext").iterator(chunk_size=batch_size):
        number = keys.decrypt(record.ciphertext)
        record.ciphertext = keys.encrypt(number)
        record.lookup_hash = keys.lookup_hash(number)
        batch.append(record)
        if len(batch) >= batch_size:
            MyNumber.objects.bulk_update(batch, ["ciphertext", "lookup_hash"])
            count += len(batch)
            batch = []
    MyNumber.objects.bulk_update(batch, ["ciphertext", "lookup_hash"])
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


@transaction.atomic
def members_apply_loss_at_75(*, as_of: date) -> int:
    """AGE-4 on `as_of`: record the loss of everyone who reached 75 and of their
    dependents, with a history reason. Reads only the people concerned (those 75 or
    over, and the dependents in their households); returns how many were updated."""
    cutoff = born_after_for_under(as_of, 75)
    recorded_active = Member.objects.filter(Q(lost_on__isnull=True) | Q(lost_on__gt=as_of))
    insured = Member.objects.filter(
        office_id=OuterRef("office_id"),
        number=OuterRef("number"),
        relationship=Member.Relationship.SELF,
    )
    # Two indexed reads (by birth date), not an OR over a per-row subquery.
    reached_75 = recorded_active.filter(birth_date__lte=cutoff)
    of_insured_75 = recorded_active.exclude(relationship=Member.Relationship.SELF).filter(
        Exists(insured.filter(birth_date__lte=cutoff))
    )
    candidates = {
        member.pk: member
        for queryset in (reached_75, of_insured_75)
        for member in queryset.annotate(
            insured_birth_date=Subquery(insured.values("birth_date")[:1])
        )
    }.values()
    changed = []
    for member in candidates:
        loss = loss_at_75(
            birth_date=member.birth_date,
            lost_on=member.lost_on,
            is_insured=member.is_insured,
            insured_birth_date=None if member.is_insured else member.insured_birth_date,
            as_of=as_of,
        )
        if loss is None or loss.lost_on <= member.acquired_on:
            continue  # (a record acquired after 75 was never active: nothing to end)
        member.lost_on, member.loss_reason = loss.lost_on, loss.reason
        member._change_reason = LOSS_REASONS[loss.reason]
        changed.append(member)
    bulk_update_with_history(changed, Member, ["lost_on", "loss_reason"], batch_size=1000)
    return len(changed)


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
    *, numbers: dict[int, str], user: AbstractBaseUser | None, reason: str
) -> int:
    """`my_number_register` for many members at once ({member id: valid plain number}),
    for imports: a few queries per file instead of five per row. Numbers must already be
    validated and free (the import checks both for the whole file first)."""
    keys = vault.EncryptionKeys()
    existing = MyNumber.objects.in_bulk(list(numbers))
    created, changed, logs = [], [], []
    for member_id, plain in numbers.items():
        digest = keys.lookup_hash(plain)
        record = existing.get(member_id)
        if record is not None and record.lookup_hash == digest:
            continue
        target = record or MyNumber(member_id=member_id)
        target.ciphertext, target.lookup_hash, target.last4 = (
            keys.encrypt(plain),
            digest,
            plain[-4:],
        )
        (changed if record else created).append(target)
        action = MyNumberAccessLog.Action.CHANGE if record else MyNumberAccessLog.Action.REGISTER
        logs.append(
            MyNumberAccessLog(
                member_id=member_id, user=history_user(user), action=action, reason=reason
            )
        )
    bulk_insert_with_history(created, MyNumber, reason=reason)
    for record in changed:
        record._change_reason, record._history_user = reason, history_user(user)
    bulk_update_with_history(
        changed, MyNumber, ["ciphertext", "lookup_hash", "last4"], batch_size=1000
    )
    MyNumberAccessLog.objects.bulk_create(logs, batch_size=1000)
    return len(logs)
