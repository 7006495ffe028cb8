"""Every flag, certificate ones included, against the rules, member by member."""

import random
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from certificates.models import Application, LostCardCase
from certificates.services import certificate_issue
from insurer.services import nightly_run
from members.models import Flag, Member, MynaStatus
from tests.edge_register import build_edge_register
from tests.factories import InsurerFactory
from tests.oracle import expected_flags, snapshot

DATES = [date(2026, 11, 21), date(2026, 12, 1), date(2027, 1, 15)]


def add_certificates_and_applications() -> None:
    rng = random.Random(11)
    members = list(Member.objects.select_related("office").order_by("pk"))
    for index, member in enumerate(members):
        if index % 3:
            continue
        start = DATES[0] - timedelta(days=rng.choice([30, 400, 1800 - 20, 1825 - 40]))
        try:
            certificate_issue(member=member, reason="no_card", issued_on=start)
        except ValidationError:
            continue
    for index, member in enumerate(members[: len(members) // 2]):
        if index % 11 == 0:
            member.family_name = member.family_name + "川"  # stale printed data → reissue
            member.save()
        elif index % 13 == 0:
            member.standard_monthly_remuneration = 200_000 if member.is_insured else None
            member.save()
        elif index % 17 == 0:
            Application.objects.create(
                member=member,
                kind="care_needs",
                received_on=DATES[0] - timedelta(days=5),
                status="approved",
                decided_on=DATES[0] - timedelta(days=4),
                review_on=DATES[-1],
            )
        elif index % 19 == 0:
            case = LostCardCase.objects.create(
                member=member,
                lost_on=DATES[0] - timedelta(days=9),
                reported_on=DATES[0] - timedelta(days=8),
            )
            Application.objects.create(
                member=member,
                kind="lost_card",
                received_on=DATES[0] - timedelta(days=7),
                lost_card_case=case,
                status="approved",
                decided_on=DATES[0] - timedelta(days=6),
            )
        elif index % 23 == 0:
            MynaStatus.objects.update_or_create(
                member=member,
                defaults={
                    "card": "held",
                    "registration": "registered",
                    "as_of": DATES[0] - timedelta(days=20),
                },
            )


@pytest.mark.django_db
def test_all_flags_agree_with_the_rules_for_every_member_with_certificates():
    InsurerFactory()
    build_edge_register(DATES, demo_members=1200)
    add_certificates_and_applications()
    seen = set()
    for as_of in DATES:
        assert nightly_run(run_date=as_of, trigger="test").status == "succeeded"
        actual: dict[int, set] = {}
        for member_id, kind, reason in Flag.objects.filter(closed_on__isnull=True).values_list(
            "member_id", "kind", "reason"
        ):
            actual.setdefault(member_id, set()).add((kind, reason))
        pks = {
            (o, n, b): pk
            for pk, o, n, b in Member.objects.values_list("pk", "office_id", "number", "branch")
        }
        wanted = {pks[key]: flags for key, flags in expected_flags(snapshot(), as_of).items()}
        mismatches = [
            (pk, sorted(f), sorted(actual.get(pk, set())))
            for pk in set(wanted) | set(actual)
            if (f := wanted.get(pk, set())) != actual.get(pk, set())
        ]
        assert mismatches == [], f"{as_of}: {len(mismatches)} differ, e.g. {mismatches[:4]}"
        seen |= {flag for flags in wanted.values() for flag in flags}
    kinds = {kind for kind, _ in seen}
    assert {"renewal_due", "reissue_needed", "return_requested", "certificate_needed"} <= kinds
    assert {"lost_card", "care_needs"} & {reason for _, reason in seen}
