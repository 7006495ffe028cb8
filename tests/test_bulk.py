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


@pytest.mark.django_db
def test_loaded_instances_are_what_the_queryset_gives(office):
    from django.db.models import F

    from insurer.bulk import loaded_instances

    MemberFactory(office=office, number="1", lost_on=date(2026, 3, 31))
    MemberFactory(office=office, number="2", registered_family_name="高橋")
    queryset = Member.objects.annotate(household=F("number")).order_by("pk")
    loaded, plain = loaded_instances(queryset, "household"), list(queryset)
    assert [m.__dict__.keys() - {"_state"} for m in loaded] == [
        m.__dict__.keys() - {"_state"} for m in plain
    ]
    for made, model in zip(loaded, plain, strict=True):
        assert {k: v for k, v in made.__dict__.items() if k != "_state"} == {
            k: v for k, v in model.__dict__.items() if k != "_state"
        }
        assert (made._state.adding, made._state.db) == (False, model._state.db)
        assert made.office == office and made.printed_full_name == model.printed_full_name


@pytest.mark.django_db
def test_loaded_instances_read_deferred_fields_on_access(office, django_assert_num_queries):
    from insurer.bulk import loaded_instances

    created = MemberFactory(office=office, number="1")
    with django_assert_num_queries(1):
        (member,) = loaded_instances(Member.objects.all(), defer=("created_at", "address"))
        assert "created_at" not in member.__dict__ and member.number == "1"
    assert member.created_at == Member.objects.get(pk=created.pk).created_at


@pytest.mark.django_db
def test_in_values_filters_as_in(office):
    from insurer.bulk import in_values

    people = [MemberFactory(office=office, number=str(n)) for n in range(1, 5)]
    wanted = [people[0].pk, people[2].pk, 10**12]
    assert set(Member.objects.filter(in_values("pk", wanted))) == {people[0], people[2]}
    assert not Member.objects.filter(in_values("pk", [])).exists()
    assert Member.objects.filter(in_values("pk", wanted)).update(branch="09") == 2


VARYING = {"history_id", "history_date", "id", "member_id", "number"} | {
    "created_at",
    "updated_at",
    "registered_at",
}


def history_rows(model, ids) -> list[dict]:
    """The history rows of `ids` in the order written, without what differs between two
    sets of rows written a moment apart (keys, numbers, dates)."""
    key = model._meta.pk.attname
    return [
        {name: value for name, value in row.items() if name not in VARYING}
        for row in model.history.filter(**{f"{key}__in": ids}).order_by("history_id").values()
    ]


@pytest.mark.django_db
def test_history_in_sql_writes_what_the_history_from_python_holds(office):
    """On PostgreSQL the server copies the history rows from the rows just written
    (inserted and updated); they hold what the rows sent from Python hold."""
    from django.contrib.auth import get_user_model

    from insurer.bulk import bulk_save_with_history
    from members.models import MyNumber

    clerk = get_user_model().objects.create_user("bulk-clerk")
    written = {}
    for in_sql, first in ((False, 1), (True, 11)):
        people = [
            MemberFactory.build(
                office=office,
                number=str(n),
                given_name=f"名{n - first}",
                family_name_kana="サトウ",
                given_name_kana="ハナコ",
            )
            for n in range(first, first + 4)
        ]
        created = bulk_insert_with_history(
            people, Member, reason="一括登録", user=clerk, history_in_sql=in_sql
        )
        for member in created:  # loaded whole, as the import loads what it changes
            member.refresh_from_db()
            member.address = f"新住所 {member.given_name}"
        bulk_save_with_history(created, Member, reason="一括変更", history_in_sql=in_sql)
        numbers = [
            MyNumber(member_id=m.pk, ciphertext="x", lookup_hash=f"{in_sql}-{m.pk}", last4="1234")
            for m in created
        ]
        bulk_insert_with_history(
            numbers, MyNumber, reason="番号", user=clerk, history_in_sql=in_sql
        )
        ids = [member.pk for member in created]
        written[in_sql] = history_rows(Member, ids), history_rows(MyNumber, ids)
        stored = Member.history.filter(id__in=ids, history_type="~").order_by("history_id")
        assert [h.address for h in stored] == [f"新住所 名{i}" for i in range(4)]
    assert written[True] == written[False]
    members, numbers = written[True]
    assert [(r["history_type"], r["history_change_reason"]) for r in members] == [
        ("+", "一括登録")
    ] * 4 + [("~", "一括変更")] * 4
    assert {r["history_user_id"] for r in members[:4]} == {clerk.pk}
    assert {r["history_user_id"] for r in members[4:]} == {None}
    assert [r["last4"] for r in numbers] == ["1234"] * 4


@pytest.mark.django_db
def test_stored_maker_makes_what_the_database_loads(office):
    from django.db import connection

    from insurer.bulk import stored_columns, stored_maker

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL: its values need no converter (members_by_key reads there)")
    member = MemberFactory(office=office, number="7", lost_on=None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {stored_columns(Member, 'm')} FROM members_member AS m WHERE id = %s",
            [member.pk],
        )
        made = stored_maker(Member, "default")(cursor.fetchone())
    loaded = Member.objects.get(pk=member.pk)
    assert {k: v for k, v in made.__dict__.items() if k != "_state"} == {
        k: v for k, v in loaded.__dict__.items() if k != "_state"
    }
    assert (made._state.adding, made._state.db) == (False, "default")
    assert made.office == office and made.kana_search == loaded.kana_search
