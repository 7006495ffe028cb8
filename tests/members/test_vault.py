"""The vault's keys (issue 9): a changed hash key is refused until the re-hash, rotation
and re-hash end in Japanese and change nothing when they cannot finish, reveal without
the key says so on the page."""

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from members import vault
from members.models import MyNumber, MyNumberHashKey
from members.services import VaultError, my_number_register, my_numbers_rehash
from tests.factories import MemberFactory

PLAIN = "983205673214"
OTHER = "123456789018"
NEW_HASH_KEY = "a-new-hash-key-for-the-test-9f8e7d6c5b4a3"


@pytest.fixture(autouse=True)
def fresh_verification():
    vault.forget_verified_hash_keys()
    yield
    vault.forget_verified_hash_keys()


def errors_of_the_system_check() -> list[str]:
    return [message.id for message in checks.run_checks() if message.level >= checks.ERROR]


@pytest.mark.django_db
def test_the_first_hash_records_the_key_fingerprint_never_the_key(office, settings):
    my_number_register(member=MemberFactory(office=office), value=PLAIN, user=None, reason="a")
    stored = MyNumberHashKey.objects.get()
    assert stored.fingerprint == vault.hash_key_fingerprint(settings.MY_NUMBER_HASH_KEY)
    assert settings.MY_NUMBER_HASH_KEY not in stored.fingerprint


@pytest.mark.django_db
def test_a_changed_hash_key_is_refused_until_the_rehash(office, settings):
    first, second = MemberFactory(office=office), MemberFactory(office=office)
    my_number_register(member=first, value=PLAIN, user=None, reason="a")
    assert "members.E002" not in errors_of_the_system_check()

    settings.MY_NUMBER_HASH_KEY = NEW_HASH_KEY
    # Before: the same number went in for a second person under the new key.
    with pytest.raises(vault.HashKeyChanged, match="rehash_my_numbers"):
        my_number_register(member=second, value=PLAIN, user=None, reason="b")
    assert "members.E002" in errors_of_the_system_check()
    assert not MyNumber.objects.filter(member=second).exists()

    call_command("rehash_my_numbers", stdout=open("/dev/null", "w"))
    assert "members.E002" not in errors_of_the_system_check()
    assert MyNumber.objects.get(member=first).lookup_hash == vault.lookup_hash(PLAIN)
    with pytest.raises(ValidationError, match="別の加入者に登録されています"):
        my_number_register(member=second, value=PLAIN, user=None, reason="b")


@pytest.mark.django_db
def test_a_vault_filled_before_fingerprints_is_checked_against_a_stored_number(office, settings):
    my_number_register(member=MemberFactory(office=office), value=PLAIN, user=None, reason="a")
    MyNumberHashKey.objects.all().delete()
    vault.forget_verified_hash_keys()
    settings.MY_NUMBER_HASH_KEY = NEW_HASH_KEY
    assert "members.E002" in errors_of_the_system_check()


@pytest.mark.django_db
def test_rehash_refuses_one_number_held_by_two_people_and_changes_nothing(office, settings):
    first, second = MemberFactory(office=office), MemberFactory(office=office)
    my_number_register(member=first, value=PLAIN, user=None, reason="a")
    # What an unguarded key change let happen: the same number under a second hash.
    MyNumber.objects.create(
        member=second,
        ciphertext=vault.encrypt(PLAIN),
        lookup_hash=vault._hmac(PLAIN, NEW_HASH_KEY),
        last4=PLAIN[-4:],
    )
    before = sorted(MyNumber.objects.values_list("lookup_hash", flat=True))
    settings.MY_NUMBER_HASH_KEY = NEW_HASH_KEY
    with pytest.raises(CommandError) as error:
        call_command("rehash_my_numbers")
    message = str(error.value)
    assert "同じ個人番号が複数の加入者に登録されています" in message
    assert first.key in message and second.key in message and PLAIN not in message
    assert sorted(MyNumber.objects.values_list("lookup_hash", flat=True)) == before


@pytest.mark.django_db
def test_rotation_without_the_old_key_ends_in_japanese_and_changes_nothing(office, settings):
    member = MemberFactory(office=office)
    token = my_number_register(member=member, value=PLAIN, user=None, reason="a").ciphertext
    settings.MY_NUMBER_KEYS = [Fernet.generate_key().decode()]  # the old key dropped too early
    with pytest.raises(CommandError) as error:
        call_command("rotate_my_number_keys")
    assert "復号できませんでした" in str(error.value) and member.key in str(error.value)
    assert MyNumber.objects.get(member=member).ciphertext == token


@pytest.mark.django_db
def test_rehash_without_the_old_encryption_key_changes_nothing(office, settings):
    member = MemberFactory(office=office)
    digest = my_number_register(member=member, value=PLAIN, user=None, reason="a").lookup_hash
    settings.MY_NUMBER_KEYS = [Fernet.generate_key().decode()]
    settings.MY_NUMBER_HASH_KEY = NEW_HASH_KEY
    with pytest.raises(VaultError, match="復号できませんでした"):
        my_numbers_rehash()
    assert MyNumber.objects.get(member=member).lookup_hash == digest
    assert MyNumberHashKey.objects.get().fingerprint != vault.hash_key_fingerprint(NEW_HASH_KEY)


@pytest.mark.django_db
def test_reveal_without_the_key_is_a_japanese_message_not_a_500(
    office, settings, supervisor_client
):
    member = MemberFactory(office=office)
    my_number_register(member=member, value=PLAIN, user=None, reason="a")
    settings.MY_NUMBER_KEYS = [Fernet.generate_key().decode()]
    response = supervisor_client.post(
        reverse("admin:members_member_my_number", args=[member.pk]), {"reason": "照合"}
    )
    assert response.status_code == 200
    assert "暗号化した鍵が MY_NUMBER_KEYS にない" in response.content.decode()
    assert PLAIN not in response.content.decode()


@pytest.mark.django_db
def test_rotation_after_a_hash_key_change_says_to_rehash_instead_of_a_traceback(office, settings):
    """The issue's path to the IntegrityError: the hash key changed, then rotation. Now the
    command stops in Japanese before writing anything."""
    member = MemberFactory(office=office)
    token = my_number_register(member=member, value=PLAIN, user=None, reason="a").ciphertext
    settings.MY_NUMBER_KEYS = [Fernet.generate_key().decode(), *settings.MY_NUMBER_KEYS]
    settings.MY_NUMBER_HASH_KEY = NEW_HASH_KEY
    with pytest.raises(CommandError, match="rehash_my_numbers"):
        call_command("rotate_my_number_keys")
    assert MyNumber.objects.get(member=member).ciphertext == token
