"""A generated register with every edge case the nightly rules care about."""

import itertools
import random
from datetime import date, timedelta

from insurer.bulk import bulk_insert_with_history
from insurer.models import Office
from members.demo import seed_demo
from members.models import Member, MynaStatus
from members.rules import add_months, first_of_month, month_end

STATUS_COMBOS = [
    *itertools.product(
        ["none", "held", "returned"], ["unregistered", "registered", "deregistered"], [False, True]
    ),
    None,
]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


def edge_births(as_of: date) -> list[date]:
    """Births whose 70th or 75th anniversaries fall on or around the dates that matter."""
    next_month = add_months(first_of_month(as_of), 1)
    anchors = [
        as_of,
        first_of_month(as_of),
        next_month,
        month_end(next_month),
        next_month - timedelta(days=1),
        add_months(next_month, 1),
    ]
    births = set()
    for anchor, years, offset in itertools.product(anchors, (70, 75), (-1, 0, 1)):
        births.add(_years_before(anchor, years) + timedelta(days=offset))
    births.update({date(1952, 2, 29), date(1956, 2, 29), date(1951, 3, 1), date(1956, 3, 1)})
    return sorted(births)


def build_edge_register(dates: list[date], *, demo_members: int = 2500) -> None:
    rng = random.Random(7)
    seed_demo(members=demo_members, today=dates[0], with_my_numbers=False)
    office = Office.objects.order_by("symbol").first()
    number = 900000
    people: list[Member] = []
    statuses: list[MynaStatus] = []
    for as_of in dates:
        for birth in edge_births(as_of):
            number += 1
            insured = Member(
                office=office,
                number=str(number),
                branch="00",
                relationship="self",
                family_name="端",
                given_name="太郎",
                family_name_kana="ハシ",
                given_name_kana="タロウ",
                birth_date=birth,
                sex="1",
                acquired_on=date(2000, 4, 1),
                standard_monthly_remuneration=300_000,
                notified_on=as_of - timedelta(days=rng.choice([4, 5, 6, 30])),
                oqs_registered_on=rng.choice(
                    [None, as_of, as_of + timedelta(days=1), as_of - timedelta(days=3)]
                ),
            )
            spouse = Member(
                office=office,
                number=str(number),
                branch="01",
                relationship="spouse",
                family_name="端",
                given_name="花子",
                family_name_kana="ハシ",
                given_name_kana="ハナコ",
                birth_date=date(1985, 1, 1)
                if rng.random() < 0.5
                else birth + timedelta(days=rng.choice([-3, 0, 3])),
                sex="2",
                acquired_on=rng.choice([date(2000, 4, 1), as_of, as_of + timedelta(days=1)]),
                lost_on=rng.choice([None, None, as_of, as_of + timedelta(days=1)]),
            )
            if spouse.lost_on is not None and spouse.lost_on <= spouse.acquired_on:
                spouse.lost_on = spouse.acquired_on + timedelta(days=1)
            people += [insured, spouse]
    bulk_insert_with_history(people, Member, reason="テスト")
    for index, member in enumerate(people):
        combo = STATUS_COMBOS[index % len(STATUS_COMBOS)]
        if combo is None:
            continue
        card, registration, dereg = combo
        as_of = dates[index % len(dates)]
        edge = add_months(first_of_month(as_of), -3)
        statuses.append(
            MynaStatus(
                member_id=member.pk,
                card=card,
                registration=registration,
                as_of=as_of,
                dereg_requested_on=as_of - timedelta(days=10) if dereg else None,
                ecert_expires_on=rng.choice(
                    [
                        None,
                        edge - timedelta(days=1),
                        edge,
                        edge + timedelta(days=40),
                        as_of + timedelta(days=400),
                    ]
                ),
            )
        )
    bulk_insert_with_history(statuses, MynaStatus, reason="テスト")
