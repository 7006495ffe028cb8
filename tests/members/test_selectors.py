from datetime import date
from itertools import product

import pytest
from django.urls import reverse

from members.models import Member
from members.rules import myna_state
from members.selectors import MYNA_STATE_FILTERS, member_household, member_search, members_active_on
from tests.factories import MemberFactory, MynaStatusFactory


@pytest.mark.django_db
def test_every_status_combination_lands_in_exactly_the_filter_of_its_state(office):
    people = {}
    combos = list(
        product(
            ["none", "held", "returned"],
            ["unregistered", "registered", "deregistered"],
            [False, True],
        )
    )
    for index, (card, registration, dereg) in enumerate(combos):
        member = MemberFactory(office=office, number=str(index + 1))
        MynaStatusFactory(
            member=member,
            card=card,
            registration=registration,
            dereg_requested_on=date(2026, 10, 1) if dereg else None,
        )
        people[member.pk] = myna_state(
            card=card, registration=registration, is_dereg_requested=dereg
        )
    no_data = MemberFactory(office=office, number="999")
    people[no_data.pk] = "no_data"
    for state, condition in MYNA_STATE_FILTERS.items():
        found = set(Member.objects.filter(condition).values_list("pk", flat=True))
        assert found == {pk for pk, expected in people.items() if expected == state}, state


@pytest.mark.django_db
def test_active_on_follows_mem_1(office):
    day = date(2026, 7, 1)
    insured = MemberFactory(office=office, number="1", birth_date=date(1960, 1, 1))
    spouse = MemberFactory.dependent_of(insured)
    turned_75 = MemberFactory(office=office, number="2", birth_date=date(1951, 7, 1))  # 75 on day
    under_75 = MemberFactory(office=office, number="3", birth_date=date(1951, 7, 2))
    lost = MemberFactory(office=office, number="4", lost_on=day)
    lost_tomorrow = MemberFactory(office=office, number="5", lost_on=date(2026, 7, 2))
    not_yet = MemberFactory(office=office, number="6", acquired_on=date(2026, 7, 2))
    old_insured = MemberFactory(office=office, number="7", birth_date=date(1951, 6, 30))
    young_dependent = MemberFactory.dependent_of(old_insured, birth_date=date(1980, 1, 1))
    active = set(members_active_on(Member.objects.all(), day))
    assert active == {insured, spouse, under_75, lost_tomorrow}
    assert not {turned_75, lost, not_yet, old_insured, young_dependent} & active


@pytest.mark.django_db
def test_search_routes(office):
    member = MemberFactory(
        office=office,
        number="12",
        branch="00",
        family_name="渡辺",
        given_name="健太",
        family_name_kana="ワタナベ",
        given_name_kana="ケンタ",
    )
    base = Member.objects.all()
    for term in [
        "1001-12-00",
        "1001 12",
        "１００１－１２",
        "1001",
        "わたなべ",
        "ﾜﾀﾅﾍﾞ ｹﾝ",
        "ワタ",
        "渡辺",
        "渡辺 健太",
    ]:
        assert list(member_search(base, term)) == [member], term
    for term in ["1001-13", "1002", "わたなべけんじ", "辺"]:
        assert list(member_search(base, term)) == [], term


@pytest.mark.django_db
def test_household_lists_the_insured_person_first(office):
    insured = MemberFactory(office=office, number="5")
    child = MemberFactory.dependent_of(insured, relationship="child")
    spouse = MemberFactory.dependent_of(insured)
    assert list(member_household(member=child)) == [insured, child, spouse]


@pytest.mark.django_db
def test_member_list_queries_do_not_grow_with_rows(
    clerk_client, office, django_assert_max_num_queries
):
    url = reverse("admin:members_member_changelist") + "?myna=registered&active=yes"

    def make(count: int, start: int) -> None:
        for n in range(start, start + count):
            MynaStatusFactory(member=MemberFactory(office=office, number=str(n)))

    make(3, 1)
    clerk_client.get(url)  # warm the session and permission caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert clerk_client.get(url).status_code == 200
    make(40, 100)
    with CaptureQueriesContext(connection) as large:
        response = clerk_client.get(url)
    assert len(response.context["cl"].result_list) == 43
    assert len(large) == len(small)
    counts = [q["sql"] for q in large if "COUNT(" in q["sql"].upper()]
    assert all("LIMIT" in sql.upper() for sql in counts), counts


@pytest.mark.django_db
def test_member_page_queries_are_bounded(supervisor_client, office, django_assert_max_num_queries):
    insured = MemberFactory(office=office, number="1")
    for _ in range(5):
        MemberFactory.dependent_of(insured, relationship="child")
    supervisor_client.get(reverse("admin:members_member_change", args=[insured.pk]))
    with django_assert_max_num_queries(20):
        supervisor_client.get(reverse("admin:members_member_change", args=[insured.pk]))


@pytest.mark.django_db
def test_anniversary_in_sql_is_age_0(office):
    """The SQL anniversary equals members.rules.anniversary on every database, 29 February
    and 1 March births included, to leap and common years."""
    from members.rules import anniversary
    from members.selectors import Anniversary

    births = [date(1952, 2, 29), date(1951, 3, 1), date(1952, 3, 1), date(1950, 12, 31)]
    births += [date(1956, 2, 28), date(1960, 1, 1), date(1955, 6, 15)]
    for index, birth in enumerate(births):
        MemberFactory(office=office, number=str(index + 1), birth_date=birth)
    for years in (70, 72, 75, 76):
        rows = Member.objects.annotate(day=Anniversary("birth_date", years)).values_list(
            "birth_date", "day"
        )
        assert {birth: day for birth, day in rows} == {
            birth: anniversary(birth, years) for birth in births
        }
