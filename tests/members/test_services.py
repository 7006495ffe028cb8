from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from members import vault
from members.models import Member, MynaStatus, MyNumber, MyNumberAccessLog
from members.services import (
    member_save,
    my_number_register,
    my_number_reveal,
    my_number_rotate_keys,
    myna_status_request_deregistration,
)
from tests.factories import MemberFactory, MynaStatusFactory

PLAIN = "983205673214"


@pytest.mark.django_db
def test_member_save_normalises_kana_and_writes_history_with_reason(office, clerk):
    member = Member(
        office=office,
        number="1",
        branch="00",
        relationship="self",
        family_name=" 山田 ",
        given_name="太郎",
        family_name_kana="やまだ",
        given_name_kana="ﾀﾛｳ",
        birth_date=date(1980, 5, 5),
        sex="1",
        acquired_on=date(2020, 4, 1),
    )
    member_save(member=member, user=clerk, reason="資格取得届")
    member.refresh_from_db()
    assert (member.family_name, member.family_name_kana, member.kana_search) == (
        "山田",
        "ヤマダ",
        "ヤマダタロウ",
    )
    record = member.history.get()
    assert (record.history_change_reason, record.history_user) == ("資格取得届", clerk)


@pytest.mark.django_db
def test_dependent_needs_its_insured_person(office):
    dependent = MemberFactory.build(office=office, number="9", branch="01", relationship="child")
    with pytest.raises(ValidationError) as error:
        member_save(member=dependent, user=None, reason="テスト")
    assert "本人（続柄 self）" in str(error.value)
    assert not Member.objects.exists()


@pytest.mark.django_db
def test_database_constraints_hold_without_the_services(office):
    from django.db import IntegrityError, transaction

    insured = MemberFactory(office=office, number="1")
    cases = [
        {"number": "1", "branch": "00", "relationship": "spouse"},  # duplicate key
        {"number": "1", "branch": "05", "relationship": "self"},  # second self
        {"number": "2", "branch": "0"},  # branch not 2 digits
        {"number": "3", "lost_on": date(2019, 1, 1)},  # loss before acquisition
    ]
    for overrides in cases:
        with pytest.raises(IntegrityError), transaction.atomic():
            MemberFactory(office=office, **overrides)
    assert Member.objects.get() == insured


@pytest.mark.django_db
def test_my_number_is_encrypted_hashed_and_logged(office, clerk):
    member = MemberFactory(office=office)
    record = my_number_register(
        member=member, value="９８３２０５６７３２１４", user=clerk, reason="取得届"
    )
    assert record.last4 == "3214" and record.masked == "********3214"
    assert PLAIN not in record.ciphertext
    assert vault.decrypt(record.ciphertext) == PLAIN
    assert record.lookup_hash == vault.lookup_hash(PLAIN) != PLAIN
    log = MyNumberAccessLog.objects.get()
    assert (log.action, log.user, log.member) == ("register", clerk, member)
    # the same number again changes nothing; a new one is a logged change
    my_number_register(member=member, value=PLAIN, user=clerk, reason="再入力")
    assert MyNumberAccessLog.objects.count() == 1
    my_number_register(member=member, value="123456789018", user=clerk, reason="訂正")
    assert MyNumberAccessLog.objects.latest("at").action == "change"
    assert MyNumber.objects.get(member=member).last4 == "9018"


@pytest.mark.django_db
def test_one_number_one_person(office):
    first, second = MemberFactory(office=office), MemberFactory(office=office)
    my_number_register(member=first, value=PLAIN, user=None, reason="a")
    with pytest.raises(ValidationError, match="別の加入者"):
        my_number_register(member=second, value=PLAIN, user=None, reason="b")


@pytest.mark.django_db
def test_invalid_numbers_are_refused(office):
    with pytest.raises(ValidationError, match="検査用数字"):
        my_number_register(
            member=MemberFactory(office=office), value="123456789012", user=None, reason="a"
        )
    assert not MyNumber.objects.exists()


@pytest.mark.django_db
def test_reveal_checks_permission_and_reason_and_logs(office, supervisor, clerk):
    member = MemberFactory(office=office)
    my_number_register(member=member, value=PLAIN, user=None, reason="a")
    with pytest.raises(PermissionDenied):
        my_number_reveal(member=member, user=clerk, reason="見たい")
    with pytest.raises(ValidationError):
        my_number_reveal(member=member, user=supervisor, reason="")
    assert (
        my_number_reveal(member=member, user=supervisor, reason="照合", ip_address="10.0.0.1")
        == PLAIN
    )
    log = MyNumberAccessLog.objects.get(action="reveal")
    assert (log.user, log.reason, log.ip_address) == (supervisor, "照合", "10.0.0.1")


@pytest.mark.django_db
def test_key_rotation_re_encrypts_under_the_new_key(office, settings):
    from cryptography.fernet import Fernet

    member = MemberFactory(office=office)
    old = my_number_register(member=member, value=PLAIN, user=None, reason="a").ciphertext
    new_key = Fernet.generate_key().decode()
    digest = MyNumber.objects.get(member=member).lookup_hash
    settings.MY_NUMBER_KEYS = [new_key, *settings.MY_NUMBER_KEYS]
    assert my_number_rotate_keys() == 1
    record = MyNumber.objects.get(member=member)
    assert record.ciphertext != old
    assert Fernet(new_key.encode()).decrypt(record.ciphertext.encode()).decode() == PLAIN
    assert record.lookup_hash == digest == vault.lookup_hash(PLAIN)  # the hash key is the same
    settings.MY_NUMBER_KEYS = [new_key]  # the old key can now be dropped
    assert vault.decrypt(record.ciphertext) == PLAIN


@pytest.mark.django_db
def test_deregistration_request_sets_dereg_requested(office, clerk):
    status = MynaStatusFactory(member=MemberFactory(office=office))
    myna_status_request_deregistration(
        member=status.member, requested_on=date(2026, 11, 2), user=clerk
    )
    status.refresh_from_db()
    assert status.is_dereg_requested and status.dereg_requested_on == date(2026, 11, 2)
    assert status.history.latest().history_change_reason == "利用登録解除の申請を受付"


@pytest.mark.django_db
def test_my_number_never_reaches_history_tables(office, clerk):
    member = MemberFactory(office=office)
    my_number_register(member=member, value=PLAIN, user=clerk, reason="登録")
    my_number_register(member=member, value="123456789018", user=clerk, reason="訂正")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if "historical" not in table:
                continue
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            assert "ciphertext" not in columns and "lookup_hash" not in columns
            cursor.execute(f'SELECT * FROM "{table}"')
            dump = repr(cursor.fetchall())
            for secret in (PLAIN, "123456789018", vault.lookup_hash(PLAIN)):
                assert secret not in dump, table
    assert MyNumber.history.count() == 2  # the change itself is recorded, masked


@pytest.mark.django_db
def test_my_number_never_reaches_logs(office, supervisor, caplog, tmp_path):
    import logging

    from tests.importing import MEMBER_HEADER, member_line, run_import, write_csv

    caplog.set_level(logging.DEBUG)
    path = write_csv(
        tmp_path,
        "m.csv",
        [
            MEMBER_HEADER,
            member_line(my_number=PLAIN),
            member_line(branch="01", relationship="spouse", my_number="123456789012"),
        ],
    )
    run = run_import("members.resources.MemberResource", path)
    assert not run.ok
    path = write_csv(tmp_path, "m.csv", [MEMBER_HEADER, member_line(my_number=PLAIN)])
    assert run_import("members.resources.MemberResource", path).ok
    my_number_reveal(member=Member.objects.get(), user=supervisor, reason="照合")
    everything = caplog.text + run.stdout + run.stderr + run.error
    assert PLAIN not in everything and "123456789012" not in everything


@pytest.mark.django_db
def test_status_row_without_member_status_cannot_request_deregistration(office):
    with pytest.raises(ValidationError):
        myna_status_request_deregistration(
            member=MemberFactory(office=office), requested_on=date(2026, 1, 1), user=None
        )
    assert not MynaStatus.objects.exists()


@pytest.mark.django_db
def test_my_numbers_are_deleted_after_the_retention_period(office):
    from insurer.services import nightly_run

    left = MemberFactory(
        office=office, number="1", acquired_on=date(2010, 4, 1), lost_on=date(2019, 11, 21)
    )
    recent = MemberFactory(
        office=office, number="2", acquired_on=date(2010, 4, 1), lost_on=date(2019, 11, 22)
    )
    for member, value in ((left, PLAIN), (recent, "123456789018")):
        my_number_register(member=member, value=value, user=None, reason="登録")
    run = nightly_run(run_date=date(2026, 11, 21), trigger="test")  # 7 years by default
    assert run.counts["my_numbers_deleted"] == 1
    assert not MyNumber.objects.filter(member=left).exists()
    assert MyNumber.objects.filter(member=recent).exists()
    assert Member.objects.filter(pk=left.pk).exists()  # the rest of the record stays
    log = MyNumberAccessLog.objects.get(action="delete")
    assert (log.member, log.reason) == (left, "保存期間の満了により削除")
    assert (
        MyNumber.history.filter(member_id=left.pk, history_type="-").get().history_change_reason
        == "保存期間の満了により削除"
    )
