"""One bad value already in the register does not stop issuing for everyone (issue 9,
item 2). Before: a birth date of 9999-12-31 made issue_certificates fail for the whole
register (`year 10074 is out of range`)."""

from datetime import date

import pytest

from certificates.issuing import certificates_issue_run
from certificates.models import Certificate
from certificates.rules import ValidityPolicy, certificate_valid_until
from insurer.services import nightly_run
from members.rules import add_months, anniversary, elderly_from, preschool_until
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory

D = date(2026, 11, 21)


@pytest.mark.django_db
@pytest.mark.parametrize("birth_date", [date(9999, 12, 31), date(9950, 2, 28), date(1, 1, 1)])
def test_a_member_with_an_absurd_birth_date_does_not_stop_the_run(birth_date):
    InsurerFactory()
    office = OfficeFactory(symbol="1001")
    good = MemberFactory(office=office, number="1", birth_date=date(1990, 5, 5))
    bad = MemberFactory(office=office, number="2", birth_date=birth_date)
    for member in (good, bad):
        MynaStatusFactory(member=member, card="none", registration="unregistered")
    nightly = nightly_run(run_date=D, trigger="test")
    assert nightly.status == "succeeded", nightly.error
    run = certificates_issue_run(run_date=D, trigger="test")
    assert run.status == "succeeded", run.error
    assert Certificate.objects.filter(member=good).count() == 1


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: anniversary(date(9999, 12, 31), 75), date.max),
        (lambda: anniversary(date(9928, 2, 29), 75), date.max),
        (lambda: anniversary(date(9924, 2, 29), 75), date(9999, 3, 1)),
        (lambda: add_months(date(9999, 12, 1), 1), date.max),
        (lambda: preschool_until(date(9999, 12, 31)), date.max),
        (lambda: elderly_from(date(9999, 12, 31)), date.max),
        (
            lambda: certificate_valid_until(
                valid_from=D,
                birth_date=date(9999, 12, 31),
                reason="no_card",
                policy=ValidityPolicy(),
            ),
            date(2031, 10, 31),
        ),
    ],
)
def test_date_rules_cap_at_the_last_representable_day_instead_of_raising(call, expected):
    assert call() == expected
