"""The one computation of certificates (certificates/issuance.py): the batch's path and a
clerk's single issue are the same code, so they give the same certificates."""

from datetime import date

import pytest
from django.db import transaction

from certificates.issuance import (
    NO_NEED,
    NO_PERIOD,
    OVERLAP,
    REISSUE,
    RENEW,
    IssueRequest,
    certificates_issue_bulk,
)
from certificates.models import Certificate
from certificates.services import certificate_issue_for_need
from members.models import Member
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory

D = date(2026, 4, 15)
PRINTED = (
    "reason",
    "valid_from",
    "valid_until",
    "is_dependent",
    "family_name",
    "given_name",
    "insured_name",
    "copay",
    "copay_effective_on",
    "symbol",
    "number",
    "branch",
    "office_name",
    "insurer_number",
)


@pytest.fixture
def register(db) -> list[Member]:
    """People whose certificates differ: an elderly insured person (cost share printed) and
    a spouse, a dependent whose insured person turns 75 first (VAL-f), someone turning 70
    (VAL-c), a residence card ending (VAL-e), one awaiting registration, one without a
    period (VAL-d ended), one with a usable card (no need)."""
    InsurerFactory()
    office = OfficeFactory(symbol="1001")
    elderly = MemberFactory(
        office=office, number="1", birth_date=date(1954, 6, 1), standard_monthly_remuneration=300000
    )
    spouse = MemberFactory.dependent_of(elderly, birth_date=date(1990, 1, 1))
    turning_70 = MemberFactory(office=office, number="2", birth_date=date(1957, 9, 1))
    resident = MemberFactory(office=office, number="3", residence_expires_on=date(2027, 1, 31))
    awaiting = MemberFactory(office=office, number="4", is_certificate_requested=True)
    ended = MemberFactory(office=office, number="5", voluntary_until=date(2026, 4, 14))
    usable = MemberFactory(office=office, number="6")
    people = [elderly, spouse, turning_70, resident, awaiting, ended, usable]
    for member in people:
        if member is usable:
            MynaStatusFactory(member=member)
        elif member is awaiting:
            MynaStatusFactory(member=member, card="held", registration="registered")
        else:
            MynaStatusFactory(member=member, card="none", registration="unregistered")
    return people


def printed(certificate: Certificate) -> tuple:
    return tuple(getattr(certificate, name) for name in PRINTED)


def test_the_batch_and_the_clerk_make_the_same_certificates(register):
    requests = [IssueRequest(member_id=member.pk) for member in register]
    with transaction.atomic():
        outcomes = certificates_issue_bulk(requests, issued_on=D, batch=None)
        batch = {o.request.member_id: printed(o.certificate) for o in outcomes if o.certificate}
        refused = {o.request.member_id: o.error for o in outcomes if o.error}
        transaction.set_rollback(True)
    assert not Certificate.objects.exists()
    single, single_refused = {}, {}
    for member in register:
        try:
            certificate = certificate_issue_for_need(member=member, issued_on=D, user=None)
        except Exception as error:  # ValidationError: the clerk's message
            single_refused[member.pk] = error.messages[0]
        else:
            single[member.pk] = printed(certificate)
    assert batch == single
    assert refused == single_refused
    elderly, spouse, turning_70, resident, awaiting, ended, usable = register
    assert refused == {ended.pk: NO_PERIOD, usable.pk: NO_NEED}
    assert batch[elderly.pk][7] == 3  # copay printed (elderly, ≥ 280,000)
    assert batch[spouse.pk][6] == "山田 太郎"  # 被保険者氏名
    assert batch[spouse.pk][2] == date(2029, 5, 31)  # VAL-f: the day before his 75th
    assert batch[turning_70.pk][2] == date(2027, 8, 31)  # VAL-c
    assert batch[resident.pk][2] == date(2027, 1, 31)  # VAL-e
    assert batch[awaiting.pk][:3] == ("awaiting_registration", D, date(2026, 5, 31))


def test_one_call_serves_a_members_requests_in_order_and_keeps_one_1(register):
    """ONE-1 in memory (on SQLite no constraint would catch it): a second certificate for
    the same period is refused; a renewal follows the certificate made just before, and a
    reissue replaces it, in the same call."""
    member = register[2]
    outcomes = certificates_issue_bulk(
        [
            IssueRequest(member_id=member.pk),
            IssueRequest(member_id=member.pk),
            IssueRequest(member_id=member.pk, kind=REISSUE),
            IssueRequest(member_id=member.pk, kind=RENEW),
        ],
        issued_on=D,
        batch=None,
    )
    first, twice, reissue, renewal = outcomes
    assert twice.error == OVERLAP and twice.certificate is None
    stored = Certificate.objects.filter(member=member).order_by("valid_from", "pk")
    assert [c.pk for c in stored] == [
        first.certificate.pk,
        reissue.certificate.pk,
        renewal.certificate.pk,
    ]
    old, new, next_ = stored
    assert (old.status, new.status, next_.status) == ("superseded", "issued", "issued")
    assert new.supersedes == old and next_.renews == new  # written after the one it follows
    assert next_.valid_from == date(2027, 9, 1)
    reasons = sorted(
        Certificate.history.filter(member=member).values_list("history_change_reason", flat=True)
    )
    assert reasons == sorted(
        [
            "資格確認書を交付（マイナンバーカード未取得）",
            "再交付により無効",
            "資格確認書を再交付（再交付）",
            "資格確認書を更新（マイナンバーカード未取得）",
        ]
    )
