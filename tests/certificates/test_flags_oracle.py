"""Every flag, certificate ones included, against the rules, member by member."""

import random
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from certificates.models import Application, Certificate, LostCardCase
from certificates.rules import is_reissue_needed, is_renewal_due, is_return_requested
from certificates.selectors import printed_data_now, printed_data_of_certificate
from certificates.services import certificate_issue
from insurer.services import nightly_run
from members.models import Member, MynaStatus
from members.rules import certificate_need_reason, has_usable_card, is_active, register_flags
from members.selectors import card_status_facts, member_facts
from tests.edge_register import build_edge_register
from tests.factories import InsurerFactory

DATES = [date(2026, 11, 21), date(2026, 12, 1), date(2027, 1, 15)]
LEAD = 60


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


def expected(as_of: date) -> dict[int, set[tuple[str, str]]]:
    members = {m.pk: m for m in Member.objects.all()}
    heads = {(m.office_id, m.number): m for m in members.values() if m.is_insured}
    statuses = {s.member_id: card_status_facts(s) for s in MynaStatus.objects.all()}
    care = set(
        Application.objects.filter(kind="care_needs", status="approved").values_list(
            "member_id", flat=True
        )
    )
    lost_open = set(LostCardCase.objects.filter(status="open").values_list("member_id", flat=True))
    lost_accepted = set(
        LostCardCase.objects.filter(status="open", applications__status="approved").values_list(
            "member_id", flat=True
        )
    )
    certificates: dict[int, list[Certificate]] = {}
    for certificate in Certificate.objects.all():
        certificates.setdefault(certificate.member_id, []).append(certificate)
    result = {}
    for pk, member in members.items():
        head = None if member.is_insured else heads.get((member.office_id, member.number))
        person, insured = member_facts(member), head and member_facts(head)
        mine = certificates.get(pk, [])
        issued = [c for c in mine if c.status == "issued"]
        apps = {
            "has_accepted_lost_card_case": pk in lost_accepted,
            "has_care_needs_approval": pk in care,
        }
        flags = register_flags(
            person,
            insured,
            statuses.get(pk),
            as_of,
            holds_certificate_on=any(c.valid_from <= as_of <= c.valid_until for c in issued),
            **apps,
        )
        need = certificate_need_reason(statuses.get(pk), as_of, **apps)
        active = is_active(person, insured, as_of)
        usable = has_usable_card(statuses.get(pk), as_of, has_open_lost_case=pk in lost_open)
        for c in issued:
            later = any(o.valid_from > c.valid_until for o in mine if o.status in Certificate.LIVE)
            if as_of <= c.valid_until and is_renewal_due(
                valid_until=c.valid_until,
                as_of=as_of,
                lead_days=LEAD,
                has_successor=later,
                active_after=is_active(person, insured, c.valid_until + timedelta(days=1)),
                residence_expires_on=member.residence_expires_on,
                has_need_reason=need is not None,
            ):
                flags.add(("renewal_due", ""))
            if c.valid_from <= as_of <= c.valid_until and is_reissue_needed(
                printed=printed_data_of_certificate(c),
                current=printed_data_now(member, head, as_of),
                is_active=active,
            ):
                flags.add(("reissue_needed", ""))
            if is_return_requested(
                valid_until=c.valid_until,
                as_of=as_of,
                is_superseded=False,
                is_active=active,
                has_usable_card=usable,
                has_care_needs_approval=pk in care,
            ):
                flags.add(("return_requested", ""))
        result[pk] = flags
    return result


@pytest.mark.django_db
def test_all_flags_agree_with_the_rules_for_every_member_with_certificates():
    InsurerFactory()
    build_edge_register(DATES, demo_members=1200)
    add_certificates_and_applications()
    seen = set()
    for as_of in DATES:
        assert nightly_run(run_date=as_of, trigger="test").status == "succeeded"
        actual: dict[int, set] = {}
        from members.models import Flag

        for member_id, kind, reason in Flag.objects.filter(closed_on__isnull=True).values_list(
            "member_id", "kind", "reason"
        ):
            actual.setdefault(member_id, set()).add((kind, reason))
        wanted = expected(as_of)
        mismatches = [
            (pk, sorted(f), sorted(actual.get(pk, set())))
            for pk, f in wanted.items()
            if f != actual.get(pk, set())
        ]
        assert mismatches == [], f"{as_of}: {len(mismatches)} differ, e.g. {mismatches[:4]}"
        seen |= {flag for flags in wanted.values() for flag in flags}
    kinds = {kind for kind, _ in seen}
    assert {"renewal_due", "reissue_needed", "return_requested", "certificate_needed"} <= kinds
    assert {"lost_card", "care_needs"} & {reason for _, reason in seen}
