"""domain.md §2–§5 and §9: every worked example, and the edge dates around them."""

from datetime import date

import pytest

from members.rules import (
    CardStatus,
    Loss,
    Person,
    certificate_need_reason,
    certificate_need_reasons,
    copay_rate,
    ecert_grace_end,
    elderly_from,
    has_usable_card,
    is_active,
    is_awaiting_registration,
    is_ecert_past_grace,
    is_elderly,
    is_preschool,
    is_registration_overdue,
    is_turning_70,
    is_turning_75,
    loss_at_75,
    preschool_until,
    register_flags,
    registration_deadline,
)

D = date


# --- AGE-1 ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "until"),
    [
        (D(2020, 4, 1), D(2026, 3, 31)),  # domain.md
        (D(2020, 4, 2), D(2027, 3, 31)),  # domain.md
        (D(2019, 10, 10), D(2026, 3, 31)),
        (D(2020, 3, 31), D(2026, 3, 31)),
        (D(2020, 2, 29), D(2026, 3, 31)),
        (D(2020, 1, 1), D(2026, 3, 31)),
    ],
)
def test_preschool_until(birth, until):
    assert preschool_until(birth) == until
    assert is_preschool(birth, until)
    assert not is_preschool(birth, D.fromordinal(until.toordinal() + 1))


# --- AGE-2 ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "start"),
    [
        (D(1956, 7, 8), D(2026, 8, 1)),  # domain.md
        (D(1956, 7, 1), D(2026, 7, 1)),  # domain.md
        (D(1956, 1, 1), D(2026, 1, 1)),  # domain.md: the year rolls over
        (D(1956, 12, 15), D(2027, 1, 1)),
        (D(1956, 2, 29), D(2026, 3, 1)),  # reaches 70 on 28 February 2026
        (D(1956, 3, 1), D(2026, 3, 1)),
        (D(1956, 12, 31), D(2027, 1, 1)),
    ],
)
def test_elderly_from(birth, start):
    assert elderly_from(birth) == start
    assert is_elderly(birth, start) and not is_elderly(birth, D.fromordinal(start.toordinal() - 1))


# --- AGE-3 ---------------------------------------------------------------------------
ELDERLY = D(1955, 5, 20)  # elderly from 2025-06-01
YOUNG = D(1961, 5, 20)
ON = D(2026, 5, 1)


@pytest.mark.parametrize(
    ("kwargs", "rate"),
    [
        ({"birth_date": ELDERLY, "is_insured": True, "insured_remuneration": 300_000}, 3),
        ({"birth_date": ELDERLY, "is_insured": True, "insured_remuneration": 280_000}, 3),
        ({"birth_date": ELDERLY, "is_insured": True, "insured_remuneration": 260_000}, 2),
        (
            {
                "birth_date": ELDERLY,
                "is_insured": True,
                "insured_remuneration": 300_000,
                "has_income_reduction": True,
            },
            2,
        ),
        # dependent aged 72 of an insured person aged 65 earning 500,000: 2割
        (
            {
                "birth_date": D(1954, 1, 10),
                "is_insured": False,
                "insured_birth_date": YOUNG,
                "insured_remuneration": 500_000,
            },
            2,
        ),
        (
            {
                "birth_date": D(1954, 1, 10),
                "is_insured": False,
                "insured_birth_date": ELDERLY,
                "insured_remuneration": 500_000,
            },
            3,
        ),
        (
            {
                "birth_date": D(1954, 1, 10),
                "is_insured": False,
                "insured_birth_date": ELDERLY,
                "insured_remuneration": 260_000,
            },
            2,
        ),
        ({"birth_date": YOUNG, "is_insured": True, "insured_remuneration": 100_000}, 3),
        (
            {
                "birth_date": D(2021, 1, 1),
                "is_insured": False,
                "insured_birth_date": YOUNG,
                "insured_remuneration": 900_000,
            },
            2,
        ),
    ],
)
def test_copay(kwargs, rate):
    defaults = {
        "has_income_reduction": False,
        "insured_birth_date": None,
        "insured_remuneration": None,
        "as_of": ON,
    }
    assert copay_rate(**{**defaults, **kwargs}) == rate


def test_income_reduction_of_the_insured_person_covers_the_household():
    # AGE-3: the flag on the insured person's row applies to every dependant; a dependant's
    # own flag applies to that dependant alone.
    household = {
        "insured_birth_date": ELDERLY,
        "insured_remuneration": 500_000,
        "as_of": ON,
    }
    wife = {"birth_date": D(1954, 1, 10), "is_insured": False, **household}
    assert copay_rate(**wife, has_income_reduction=False) == 3
    assert copay_rate(**wife, has_income_reduction=True) == 2
    assert copay_rate(**wife, has_income_reduction=False, insured_has_income_reduction=True) == 2
    husband = {"birth_date": ELDERLY, "is_insured": True, **household}
    assert copay_rate(**husband, has_income_reduction=False) == 3
    # the wife's own approval does not reach him (passed as the household's flag for an
    # insured person, it is ignored: his own row decides)
    assert copay_rate(**husband, has_income_reduction=False, insured_has_income_reduction=True) == 3
    assert copay_rate(**husband, has_income_reduction=True) == 2


def test_copay_changes_on_the_day_elderly_status_starts():
    args = {
        "birth_date": D(1956, 7, 8),
        "is_insured": True,
        "has_income_reduction": False,
        "insured_birth_date": None,
        "insured_remuneration": 200_000,
    }
    assert copay_rate(**args, as_of=D(2026, 7, 31)) == 3
    assert copay_rate(**args, as_of=D(2026, 8, 1)) == 2


# --- AGE-4 ---------------------------------------------------------------------------
def lose(**facts):
    """loss_at_75 with an insured person's defaults (acquired long ago, nothing recorded)."""
    defaults = {
        "acquired_on": D(1990, 4, 1),
        "lost_on": None,
        "is_insured": True,
        "insured_birth_date": None,
        "insured_lost_on": None,
    }
    return loss_at_75(**{**defaults, **facts})


def test_loss_at_75_is_the_birthday_itself():
    assert lose(birth_date=D(1951, 7, 1), as_of=D(2026, 7, 1)) == Loss(
        D(2026, 7, 1), "late_elderly"
    )
    assert lose(birth_date=D(1951, 7, 1), as_of=D(2026, 6, 30)) is None
    assert lose(birth_date=D(1951, 7, 8), as_of=D(2026, 7, 8)).lost_on == D(2026, 7, 8)
    assert lose(birth_date=D(1952, 2, 29), as_of=D(2027, 3, 1)).lost_on == D(2027, 3, 1)
    assert lose(birth_date=D(1952, 2, 29), as_of=D(2027, 2, 28)) is None


def test_a_later_filed_loss_is_corrected_whichever_night_runs():
    # AGE-4: lost_on filed as 2026-09-30 for someone whose 75th is 2026-07-08: the job
    # writes 2026-07-08 on any night from the anniversary on, before or after the filed date.
    for as_of in (D(2026, 7, 8), D(2026, 9, 29), D(2026, 10, 1), D(2027, 5, 1)):
        assert lose(birth_date=D(1951, 7, 8), lost_on=D(2026, 9, 30), as_of=as_of) == Loss(
            D(2026, 7, 8), "late_elderly"
        )
    # a loss recorded on or before the anniversary stands
    assert lose(birth_date=D(1951, 7, 8), lost_on=D(2026, 7, 8), as_of=D(2026, 8, 1)) is None
    assert lose(birth_date=D(1951, 7, 8), lost_on=D(2026, 6, 1), as_of=D(2026, 8, 1)) is None
    # a record that starts on or after the anniversary was never active: nothing to end
    assert lose(birth_date=D(1951, 7, 8), acquired_on=D(2026, 7, 8), as_of=D(2026, 8, 1)) is None


def test_dependents_lose_with_their_insured_person():
    # domain research R-AGE-05: insured born 1951-07-08, wife born 1955-03-03: both lose 2026-07-08
    wife = {"birth_date": D(1955, 3, 3), "is_insured": False, "insured_birth_date": D(1951, 7, 8)}
    assert lose(**wife, as_of=D(2026, 7, 8)) == Loss(D(2026, 7, 8), "insured_lost")
    assert lose(**wife, as_of=D(2026, 7, 7)) is None
    own_first = lose(
        birth_date=D(1951, 1, 1),
        is_insured=False,
        insured_birth_date=D(1951, 7, 8),
        as_of=D(2026, 7, 8),
    )
    assert own_first == Loss(D(2026, 1, 1), "late_elderly")
    same_day = lose(
        birth_date=D(1951, 7, 8),
        is_insured=False,
        insured_birth_date=D(1951, 7, 8),
        as_of=D(2026, 7, 8),
    )
    assert same_day.reason == "late_elderly"
    assert lose(**wife, lost_on=D(2026, 4, 1), as_of=D(2026, 7, 8)) is None
    assert lose(**wife, lost_on=D(2026, 9, 1), as_of=D(2026, 7, 8)) == Loss(
        D(2026, 7, 8), "insured_lost"
    )
    # the insured person's loss filed late (on or after the 75th) is still the loss at 75
    assert lose(**wife, insured_lost_on=D(2026, 8, 1), as_of=D(2026, 7, 8)) == Loss(
        D(2026, 7, 8), "insured_lost"
    )
    assert lose(**wife, insured_lost_on=D(2026, 7, 8), as_of=D(2026, 7, 8)) == Loss(
        D(2026, 7, 8), "insured_lost"
    )


def test_dependents_do_not_follow_an_earlier_loss_of_the_insured_person():
    # AGE-4: retired in June, 75th birthday in December: the wife's row stays as filed
    wife = {"birth_date": D(1955, 3, 3), "is_insured": False, "insured_birth_date": D(1951, 12, 8)}
    for as_of in (D(2026, 12, 8), D(2027, 3, 1)):
        assert lose(**wife, insured_lost_on=D(2026, 6, 1), as_of=as_of) is None
    # her own 75th still ends her record (if the employer never filed her loss)
    assert lose(**wife, insured_lost_on=D(2026, 6, 1), as_of=D(2030, 3, 3)) == Loss(
        D(2030, 3, 3), "late_elderly"
    )


# --- MEM-1, MEM-2 --------------------------------------------------------------------
def person(**kwargs) -> Person:
    return Person(
        **{"birth_date": D(1980, 5, 5), "is_insured": True, "acquired_on": D(2020, 4, 1), **kwargs}
    )


@pytest.mark.parametrize(
    ("kwargs", "as_of", "active"),
    [
        ({}, D(2026, 1, 1), True),
        ({"acquired_on": D(2026, 1, 2)}, D(2026, 1, 1), False),
        ({"acquired_on": D(2026, 1, 1)}, D(2026, 1, 1), True),
        ({"lost_on": D(2026, 1, 1)}, D(2026, 1, 1), False),  # lost_on is the first uncovered day
        ({"lost_on": D(2026, 1, 2)}, D(2026, 1, 1), True),
        ({"birth_date": D(1951, 1, 1)}, D(2025, 12, 31), True),
        ({"birth_date": D(1951, 1, 1)}, D(2026, 1, 1), False),  # 75 whether or not recorded
    ],
)
def test_active(kwargs, as_of, active):
    assert is_active(person(**kwargs), None, as_of) is active


def test_a_dependent_is_inactive_once_the_insured_person_is():
    insured = person(lost_on=D(2026, 4, 1))
    child = person(is_insured=False, birth_date=D(2010, 1, 1))
    assert is_active(child, insured, D(2026, 3, 31))
    assert not is_active(child, insured, D(2026, 4, 1))
    old_insured = person(birth_date=D(1951, 7, 8))
    assert is_active(child, old_insured, D(2026, 7, 7)) and not is_active(
        child, old_insured, D(2026, 7, 8)
    )


def test_registration_deadline():
    # report received 2026-04-06: register by 2026-04-11; still unregistered on 04-12 → overdue
    assert registration_deadline(D(2026, 4, 6)) == D(2026, 4, 11)
    late = person(notified_on=D(2026, 4, 6))
    assert not is_registration_overdue(late, D(2026, 4, 11))
    assert is_registration_overdue(late, D(2026, 4, 12))
    assert not is_registration_overdue(
        person(notified_on=D(2026, 4, 6), oqs_registered_on=D(2026, 4, 12)), D(2026, 4, 13)
    )
    assert is_registration_overdue(
        person(notified_on=D(2026, 4, 6), oqs_registered_on=D(2026, 4, 20)), D(2026, 4, 13)
    )
    assert is_registration_overdue(late, D(2026, 4, 10), days=3)
    assert not is_registration_overdue(person(), D(2030, 1, 1))


# --- MY-1, MY-2 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expiry", "end"),
    [
        (D(2026, 7, 8), D(2026, 10, 31)),  # domain.md
        (D(2026, 12, 15), D(2027, 3, 31)),  # domain.md
        (D(2026, 1, 31), D(2026, 4, 30)),
        (D(2026, 11, 30), D(2027, 2, 28)),
        (D(2027, 11, 1), D(2028, 2, 29)),
    ],
)
def test_ecert_grace(expiry, end):
    assert ecert_grace_end(expiry) == end
    assert not is_ecert_past_grace(expiry, end)
    assert is_ecert_past_grace(expiry, D.fromordinal(end.toordinal() + 1))


def test_unknown_ecert_expiry_counts_as_fine():
    assert not is_ecert_past_grace(None, D(2099, 1, 1))


REGISTERED = CardStatus("held", "registered", D(2028, 1, 1))


@pytest.mark.parametrize(
    ("status", "lost_case", "usable"),
    [
        (REGISTERED, False, True),
        (CardStatus("held", "registered", None), False, True),
        (REGISTERED, True, False),
        (CardStatus("held", "registered", D(2028, 1, 1), is_dereg_requested=True), False, False),
        (CardStatus("held", "unregistered"), False, False),
        (CardStatus("held", "deregistered"), False, False),
        (CardStatus("returned", "registered"), False, False),
        (CardStatus("none", "unregistered"), False, False),
        (CardStatus("held", "registered", D(2026, 7, 8)), False, False),  # past grace on 2026-11-21
        (CardStatus("held", "registered", D(2026, 8, 31)), False, True),  # in grace until 11-30
        (None, False, False),
    ],
)
def test_usable_card(status, lost_case, usable):
    assert has_usable_card(status, D(2026, 11, 21), has_open_lost_case=lost_case) is usable


# --- §5 reasons, in precedence -------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "apps", "reason"),
    [
        (None, {}, "no_card"),
        (CardStatus("none", "unregistered"), {}, "no_card"),
        (CardStatus("none", "deregistered"), {}, "no_card"),
        (CardStatus("held", "unregistered"), {}, "not_registered"),
        (CardStatus("held", "unregistered", is_dereg_requested=True), {}, "not_registered"),
        (CardStatus("held", "registered", is_dereg_requested=True), {}, "deregistered"),
        (CardStatus("held", "deregistered"), {}, "deregistered"),
        (CardStatus("held", "registered", D(2026, 7, 8)), {}, "ecert_expired"),
        (CardStatus("held", "registered", D(2026, 8, 1)), {}, None),
        (CardStatus("returned", "unregistered"), {}, "card_returned"),
        (CardStatus("returned", "registered", is_dereg_requested=True), {}, "deregistered"),
        (REGISTERED, {"has_accepted_lost_card_case": True}, "lost_card"),
        (REGISTERED, {"has_care_needs_approval": True}, "care_needs"),
        (
            REGISTERED,
            {"has_accepted_lost_card_case": True, "has_care_needs_approval": True},
            "lost_card",
        ),
        (CardStatus("held", "unregistered"), {"has_care_needs_approval": True}, "not_registered"),
        (REGISTERED, {}, None),
        # §5 awaiting_registration: after the card reasons, before the applications
        (REGISTERED, {"is_awaiting_registration": True}, "awaiting_registration"),
        (None, {"is_awaiting_registration": True}, "no_card"),
        (
            CardStatus("returned", "unregistered"),
            {"is_awaiting_registration": True},
            "card_returned",
        ),
        (
            REGISTERED,
            {"is_awaiting_registration": True, "has_accepted_lost_card_case": True},
            "awaiting_registration",
        ),
    ],
)
def test_need_reason_precedence(status, apps, reason):
    assert certificate_need_reason(status, D(2026, 11, 21), **apps) == reason


def test_all_reasons_are_listed_in_order():
    status = CardStatus("returned", "deregistered", is_dereg_requested=True)
    reasons = certificate_need_reasons(
        status, D(2026, 11, 21), has_accepted_lost_card_case=True, has_care_needs_approval=True
    )
    assert reasons == ["deregistered", "card_returned", "lost_card", "care_needs"]


@pytest.mark.parametrize(
    ("requested", "registered_on", "expected"),
    [
        (True, None, True),
        (True, D(2026, 11, 22), True),  # registered after D
        (True, D(2026, 11, 21), False),  # registered on D
        (True, D(2026, 10, 1), False),
        (False, None, False),
    ],
)
def test_awaiting_registration(requested, registered_on, expected):
    assert (
        is_awaiting_registration(
            is_certificate_requested=requested,
            oqs_registered_on=registered_on,
            as_of=D(2026, 11, 21),
        )
        is expected
    )


# --- §9 turning 70 / 75 ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "as_of", "expected"),
    [
        (D(1956, 8, 8), D(2026, 8, 15), True),  # starts 2026-09-01
        (D(1956, 8, 8), D(2026, 7, 31), False),
        (D(1956, 8, 8), D(2026, 9, 1), False),
        (D(1956, 9, 1), D(2026, 8, 1), True),  # born on the 1st: starts 2026-09-01
        (D(1956, 9, 2), D(2026, 8, 31), False),  # starts 2026-10-01
        (D(1956, 2, 29), D(2026, 2, 1), True),  # starts 2026-03-01
        (D(1957, 1, 10), D(2026, 12, 31), False),  # reaches 70 on 2027-01-09: starts 02-01
        (D(1957, 1, 10), D(2027, 1, 1), True),
    ],
)
def test_turning_70(birth, as_of, expected):
    assert is_turning_70(birth, as_of) is expected


@pytest.mark.parametrize(
    ("birth", "as_of", "expected"),
    [
        (D(1951, 12, 1), D(2026, 11, 1), True),
        (D(1951, 12, 31), D(2026, 11, 30), True),
        (D(1951, 11, 30), D(2026, 11, 1), False),  # this month, not next
        (D(1952, 1, 1), D(2026, 11, 30), False),
        (D(1952, 2, 29), D(2027, 2, 15), True),  # anniversary 2027-03-01
        (D(1952, 2, 29), D(2027, 1, 31), False),
    ],
)
def test_turning_75(birth, as_of, expected):
    assert is_turning_75(birth, as_of) is expected


def test_register_flags_for_one_member():
    someone = person(notified_on=D(2026, 11, 1), birth_date=D(1956, 11, 5))  # 70: 2026-12-01
    flags = register_flags(someone, None, None, D(2026, 11, 21))
    assert flags == {
        ("certificate_needed", "no_card"),
        ("registration_overdue", ""),
        ("turning_70", ""),
    }
    assert register_flags(
        someone, None, REGISTERED, D(2026, 11, 21), holds_certificate_on=True
    ) == {
        ("registration_overdue", ""),
        ("turning_70", ""),
    }
    assert register_flags(person(lost_on=D(2026, 11, 1)), None, None, D(2026, 11, 21)) == set()
