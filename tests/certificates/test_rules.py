"""domain.md §6 and §7: every worked example, and the edge dates around them."""

from datetime import date

import pytest

from certificates.rules import (
    PrintedData,
    ValidityPolicy,
    certificate_valid_until,
    is_expired,
    is_in_effect,
    is_reissue_needed,
    is_renewal_due,
    is_return_requested,
    is_unreturned,
    policy_valid_until,
    reissue_valid_until,
    renewal_starts_on,
)

D = date
DEFAULT = ValidityPolicy()


@pytest.mark.parametrize(
    ("issued", "birth", "reason", "until"),
    [
        (D(2026, 4, 15), D(1990, 5, 5), "no_card", D(2031, 3, 31)),  # VAL-a rounded down
        (D(2026, 4, 1), D(1953, 3, 20), "no_card", D(2028, 3, 19)),  # VAL-b
        (D(2026, 4, 1), D(1957, 9, 1), "no_card", D(2027, 8, 31)),  # VAL-c
        (D(2026, 5, 15), D(1990, 5, 5), "lost_card", D(2026, 7, 31)),  # lost card, 3 months
        (D(2026, 4, 1), D(1990, 5, 5), "no_card", D(2031, 3, 31)),  # already a month-end
    ],
)
def test_domain_examples(issued, birth, reason, until):
    assert (
        certificate_valid_until(valid_from=issued, birth_date=birth, reason=reason, policy=DEFAULT)
        == until
    )


@pytest.mark.parametrize(
    ("valid_from", "policy", "reason", "until"),
    [
        (
            D(2025, 1, 8),
            ValidityPolicy(lost_card_months=3),
            "lost_card",
            D(2025, 3, 31),
        ),  # research W22
        (D(2025, 1, 8), ValidityPolicy(years=3), "no_card", D(2027, 12, 31)),
        (D(2026, 4, 15), ValidityPolicy(round_down_to_month_end=False), "no_card", D(2031, 4, 14)),
        (D(2026, 3, 1), DEFAULT, "no_card", D(2031, 2, 28)),  # 2031-02-28 is a month-end
        (D(2028, 2, 29), ValidityPolicy(round_down_to_month_end=False), "no_card", D(2033, 2, 28)),
        (
            D(2026, 1, 31),
            ValidityPolicy(lost_card_months=1, round_down_to_month_end=False),
            "lost_card",
            D(2026, 2, 27),
        ),
        (
            D(2026, 5, 15),
            ValidityPolicy(lost_card_months=120, round_down_to_month_end=False),
            "lost_card",
            D(2031, 5, 14),
        ),  # ≤ 5 years
    ],
)
def test_val_a(valid_from, policy, reason, until):
    assert policy_valid_until(valid_from=valid_from, reason=reason, policy=policy) == until


COMMON_END = ValidityPolicy(push_valid_until=D(2026, 11, 30))


@pytest.mark.parametrize(
    ("valid_from", "policy", "reason", "until"),
    [
        # VAL-a awaiting_registration: R months (default 2) less a day, to a month-end
        (D(2026, 4, 15), DEFAULT, "awaiting_registration", D(2026, 5, 31)),
        (D(2026, 5, 1), DEFAULT, "awaiting_registration", D(2026, 6, 30)),
        (
            D(2026, 4, 15),
            ValidityPolicy(awaiting_registration_months=3, round_down_to_month_end=False),
            "awaiting_registration",
            D(2026, 7, 14),
        ),
        # a common end date replaces the policy date for the push reasons ...
        (D(2025, 12, 1), COMMON_END, "no_card", D(2026, 11, 30)),
        (D(2026, 3, 10), COMMON_END, "card_returned", D(2026, 11, 30)),
        (D(2026, 3, 10), COMMON_END, "awaiting_registration", D(2026, 11, 30)),
        (
            D(2025, 12, 1),
            ValidityPolicy(push_valid_until=D(2030, 11, 30)),
            "not_registered",
            D(2030, 11, 30),
        ),
        # ... never past 5 years less a day
        (
            D(2025, 12, 1),
            ValidityPolicy(push_valid_until=D(2031, 11, 30)),
            "no_card",
            D(2030, 11, 30),
        ),
        # ... and not for the application reasons
        (D(2025, 12, 1), COMMON_END, "care_needs", D(2030, 11, 30)),
        (D(2026, 5, 15), COMMON_END, "lost_card", D(2026, 7, 31)),
        # month-end rounding applies to it as to the policy date
        (
            D(2025, 12, 1),
            ValidityPolicy(push_valid_until=D(2026, 11, 15)),
            "no_card",
            D(2026, 10, 31),
        ),
        # a common date already past for this certificate: the period policy applies
        (D(2026, 12, 1), COMMON_END, "no_card", D(2031, 11, 30)),
    ],
)
def test_val_a_awaiting_registration_and_common_end_date(valid_from, policy, reason, until):
    assert policy_valid_until(valid_from=valid_from, reason=reason, policy=policy) == until


def test_common_end_date_keeps_the_caps():
    # VAL-b: reaches 75 on 2026-09-01 → valid to 2026-08-31, not the common 2026-11-30
    assert certificate_valid_until(
        valid_from=D(2025, 12, 1), birth_date=D(1951, 9, 1), reason="no_card", policy=COMMON_END
    ) == D(2026, 8, 31)


def test_born_on_the_first_at_70_and_the_29th_of_february_at_75():
    # reaches 70 on 2027-06-30 → elderly from 2027-07-01 → certificate to 2027-06-30
    assert certificate_valid_until(
        valid_from=D(2026, 4, 1), birth_date=D(1957, 7, 1), reason="no_card", policy=DEFAULT
    ) == D(2027, 6, 30)
    # already elderly on valid_from: no VAL-c; 75th anniversary of a 29 Feb birth is 1 March
    assert certificate_valid_until(
        valid_from=D(2026, 4, 1), birth_date=D(1952, 2, 29), reason="no_card", policy=DEFAULT
    ) == D(2027, 2, 28)


def test_voluntary_residence_and_insured_caps():
    base = {
        "valid_from": D(2026, 4, 1),
        "birth_date": D(1990, 5, 5),
        "reason": "no_card",
        "policy": DEFAULT,
    }
    assert certificate_valid_until(**base, voluntary_until=D(2027, 9, 30)) == D(
        2027, 9, 30
    )  # VAL-d
    assert certificate_valid_until(**base, residence_expires_on=D(2026, 12, 20)) == D(
        2026, 12, 20
    )  # VAL-e
    # VAL-f: the insured person turns 75 on 2028-07-08 → dependent's certificate to 2028-07-07
    assert certificate_valid_until(**base, insured_birth_date=D(1953, 7, 8)) == D(2028, 7, 7)
    assert certificate_valid_until(**base, voluntary_until=D(2040, 1, 1)) == D(2031, 3, 31)


def test_renewal_has_no_gap_and_no_overlap():
    assert renewal_starts_on(D(2031, 3, 31)) == D(2031, 4, 1)


RENEWAL = {
    "valid_until": D(2026, 12, 31),
    "lead_days": 60,
    "has_successor": False,
    "active_after": True,
    "residence_expires_on": None,
    "has_need_reason": True,
}


@pytest.mark.parametrize(
    ("changes", "as_of", "due"),
    [
        ({}, D(2026, 11, 1), True),  # 60 days before
        ({}, D(2026, 10, 31), False),  # 61 days before
        ({}, D(2026, 12, 31), True),  # last day
        ({}, D(2027, 1, 1), False),  # expired
        ({"has_successor": True}, D(2026, 11, 21), False),
        ({"active_after": False}, D(2026, 11, 21), False),
        ({"residence_expires_on": D(2026, 12, 31)}, D(2026, 11, 21), False),
        ({"residence_expires_on": D(2027, 1, 1)}, D(2026, 11, 21), True),
        ({"has_need_reason": False}, D(2026, 11, 21), False),  # now has a usable card
    ],
)
def test_renewal_due(changes, as_of, due):
    assert is_renewal_due(**{**RENEWAL, **changes}, as_of=as_of) is due


PRINTED = PrintedData(
    "山田", "太郎", "ヤマダ", "タロウ", "1001", "12", "00", "1", D(1956, 7, 8), None
)


def printed(**changes) -> PrintedData:
    return PrintedData(**{**PRINTED.__dict__, **changes})


def test_reissue_when_printed_data_differs():
    assert not is_reissue_needed(printed=PRINTED, current=PRINTED, is_active=True)
    assert is_reissue_needed(printed=PRINTED, current=printed(family_name="山川"), is_active=True)
    # a cost-share change: 70 with 2割 printed, now 3割
    assert is_reissue_needed(printed=printed(copay=2), current=printed(copay=3), is_active=True)
    # RI-1: a dependant's 被保険者氏名 is printed data too
    spouse = printed(insured_name="山田 太郎")
    assert is_reissue_needed(
        printed=spouse, current=printed(insured_name="山川 太郎"), is_active=True
    )
    # only active members get a reissue: one who has lost membership gets RT-1 instead
    assert not is_reissue_needed(
        printed=PRINTED, current=printed(family_name="山川"), is_active=False
    )
    assert reissue_valid_until(
        old_valid_until=D(2030, 3, 31), capped_valid_until=D(2031, 1, 31)
    ) == D(2030, 3, 31)
    assert reissue_valid_until(
        old_valid_until=D(2030, 3, 31), capped_valid_until=D(2029, 7, 7)
    ) == D(2029, 7, 7)


def test_in_effect():
    assert is_in_effect(
        valid_from=D(2026, 1, 1), valid_until=D(2026, 12, 31), as_of=D(2026, 12, 31)
    )
    assert not is_in_effect(
        valid_from=D(2026, 1, 2), valid_until=D(2026, 12, 31), as_of=D(2026, 1, 1)
    )


RETURN = {
    "valid_until": D(2030, 3, 31),
    "is_superseded": False,
    "is_active": True,
    "has_usable_card": False,
    "has_care_needs_approval": False,
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, False),
        ({"is_active": False}, True),  # lost membership
        ({"has_usable_card": True}, True),  # registered since
        ({"has_usable_card": True, "has_care_needs_approval": True}, False),
        ({"is_active": False, "is_superseded": True}, False),
        ({"is_active": False, "valid_until": D(2026, 11, 20)}, False),  # expired already
        # RT-1: awaiting registration keeps the certificate, as a 要配慮者 approval does ...
        ({"has_usable_card": True, "is_awaiting_registration": True}, False),
        # ... but not once membership is lost
        ({"is_active": False, "is_awaiting_registration": True}, True),
    ],
)
def test_return_requested(changes, expected):
    assert is_return_requested(**{**RETURN, **changes}, as_of=D(2026, 11, 21)) is expected


def test_unreturned_after_five_days_and_expiry():
    assert not is_unreturned(lost_on=D(2026, 4, 1), as_of=D(2026, 4, 6))
    assert is_unreturned(lost_on=D(2026, 4, 1), as_of=D(2026, 4, 7))
    assert is_expired(valid_until=D(2026, 11, 20), as_of=D(2026, 11, 21))
    assert not is_expired(valid_until=D(2026, 11, 21), as_of=D(2026, 11, 21))


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (D(2026, 4, 15), "令和8年4月15日"),  # domain.md §6
        (D(2019, 5, 1), "令和元年5月1日"),
        (D(2019, 4, 30), "平成31年4月30日"),
        (D(1989, 1, 8), "平成元年1月8日"),
        (D(1989, 1, 7), "昭和64年1月7日"),
        (D(1956, 7, 8), "昭和31年7月8日"),
        (D(1926, 12, 25), "昭和元年12月25日"),
        (D(1926, 12, 24), "大正15年12月24日"),
    ],
)
def test_japanese_era_dates(day, text):
    from certificates.rules import japanese_date

    assert japanese_date(day) == text


def test_copay_effective_on():
    from certificates.rules import copay_effective_on

    assert copay_effective_on(birth_date=D(1956, 7, 8), valid_from=D(2026, 8, 1)) == D(2026, 8, 1)
    assert copay_effective_on(birth_date=D(1955, 7, 8), valid_from=D(2026, 8, 1)) == D(2026, 8, 1)
    assert copay_effective_on(birth_date=D(1956, 7, 8), valid_from=D(2026, 7, 20)) == D(2026, 8, 1)
