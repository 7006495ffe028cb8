from datetime import date

import pytest

from insurer.bulk import bulk_insert_with_history
from members.models import Member, MynaStatus
from tests.factories import MemberFactory


@pytest.mark.django_db
def test_bulk_insert_writes_rows_and_history(office):
    people = [
        MemberFactory.build(
            office=office, number=str(n), family_name_kana="サトウ", given_name_kana="ハナコ"
        )
        for n in range(1, 6)
    ]
    created = bulk_insert_with_history(people, Member, reason="一括登録")
    assert all(member.pk for member in created)
    stored = Member.objects.get(pk=created[0].pk)
    assert stored.kana_search == "サトウハナコ"  # generated columns are the database's
    assert stored.created_at is not None
    history = Member.history.filter(id=stored.pk).get()
    assert (history.history_type, history.history_change_reason) == ("+", "一括登録")
    assert history.family_name_kana == "サトウ"
    assert Member.history.count() == 5
    statuses = [
        MynaStatus(member=m, card="held", registration="registered", as_of=date(2026, 10, 31))
        for m in created
    ]
    bulk_insert_with_history(statuses, MynaStatus, reason="一括登録")
    assert MynaStatus.objects.count() == MynaStatus.history.count() == 5
    # the sequence moved on: an ordinary save after a bulk insert does not collide
    assert MemberFactory(office=office, number="99").pk > max(m.pk for m in created)


@pytest.mark.parametrize(
    "model_path", ["members.Member", "members.MyNumber", "members.MyNumberAccessLog"]
)
def test_instance_maker_makes_what_the_model_makes(model_path):
    from django.apps import apps

    from insurer.bulk import instance_maker

    model = apps.get_model(model_path)
    values = {"member_id": 7} if model_path != "members.Member" else {"number": "12"}
    made, plain = instance_maker(model)(**values), model(**values)
    skip = {"_state", "created_at", "registered_at", "at", "updated_at"}
    assert {k: v for k, v in made.__dict__.items() if k not in skip} == {
        k: v for k, v in plain.__dict__.items() if k not in skip
    }
    assert made._state.adding and made.pk == plain.pk
