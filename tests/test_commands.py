from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from members.models import Member, MynaStatus, MyNumber
from members.rules import my_number_error


@pytest.mark.django_db
def test_seed_demo_makes_a_realistic_register_with_history():
    out = StringIO()
    call_command("seed_demo", "--members", "600", "--date", "2026-11-21", stdout=out)
    members = Member.objects.all()
    assert 600 <= members.count() < 620
    assert (
        members.filter(relationship="self").count() < members.count()
    )  # households with dependents
    assert set(members.values_list("relationship", flat=True)) >= {"self", "spouse", "child"}
    ages = {2026 - year for year in members.values_list("birth_date__year", flat=True)}
    assert min(ages) <= 2 and max(ages) >= 70
    assert MynaStatus.objects.filter(registration="registered").exists()
    assert MynaStatus.objects.filter(card="none").exists()
    assert MynaStatus.objects.count() < members.count()  # some have no status data yet
    numbers = MyNumber.objects.all()
    assert numbers.count() > 500
    from members import vault

    for record in numbers[:20]:
        assert my_number_error(vault.decrypt(record.ciphertext)) is None
    assert Member.history.count() == members.count()
    assert Member.history.first().history_change_reason == "デモデータ作成"
    for member in members[:50]:  # every dependent's household has its insured person
        assert members.filter(
            office_id=member.office_id, number=member.number, relationship="self"
        ).exists()
    again = StringIO()
    call_command("seed_demo", "--members", "600", stdout=again)
    assert "すでに" in again.getvalue()


@pytest.mark.django_db
def test_demo_users_get_their_roles(settings):
    settings.DEBUG = True  # refused outside DEBUG (tests/insurer/test_logins.py)
    out = StringIO()
    call_command("create_demo_users", stdout=out)
    users = {u.username: {g.name for g in u.groups.all()} for u in get_user_model().objects.all()}
    assert users == {"clerk": {"担当者"}, "supervisor": {"管理者"}, "auditor": {"監査"}}
    assert "demo-pass-2026" in out.getvalue()
    assert "http://127.0.0.1:8000/admin/" in out.getvalue()
    call_command("create_demo_users", "--port", "8123", stdout=out)
    assert "http://127.0.0.1:8123/admin/" in out.getvalue()
    assert get_user_model().objects.get(username="supervisor").has_perm("members.reveal_mynumber")
    assert not get_user_model().objects.get(username="clerk").has_perm("members.reveal_mynumber")


@pytest.mark.django_db
def test_rotate_command(office):
    from members.services import my_number_register
    from tests.factories import MemberFactory

    my_number_register(
        member=MemberFactory(office=office), value="983205673214", user=None, reason="a"
    )
    out = StringIO()
    call_command("rotate_my_number_keys", stdout=out)
    assert "1件" in out.getvalue()
