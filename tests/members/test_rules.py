from datetime import date

import pytest

from members.rules import (
    anniversary,
    born_after_for_under,
    is_katakana,
    is_name_unregistered,
    is_registrable_name,
    looks_like_kana,
    mask_my_number,
    my_number_check_digit,
    my_number_error,
    myna_state,
    normalize_kana,
    normalize_my_number,
    parse_name_substitutions,
    reach,
    registered_name_proposal,
    status_row_is_stale,
    unregistrable_characters,
)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("983205673214", True),
        ("123456789018", True),
        ("123456789000", True),  # r = 1 -> check digit 0
        ("123456789012", False),
    ],
)
def test_my_number_examples(number, valid):
    assert (my_number_error(number) is None) is valid


def test_my_number_check_digit_branches():
    assert my_number_check_digit("98320567321") == 4
    assert my_number_check_digit("12345678901") == 8
    assert my_number_check_digit("12345678900") == 0


def test_full_width_digits_are_normalised_before_checking():
    assert normalize_my_number("９８３２０５６７３２１４") == "983205673214"
    assert my_number_error("９８３２０５６７３２１４") is None


@pytest.mark.parametrize(
    "value",
    ["9832-0567-3214", "9832 0567 3214", "98320567321", "9832056732145", "abcdefghijkl", ""],
)
def test_hyphens_spaces_and_wrong_lengths_are_rejected(value):
    assert (
        my_number_error(value)
        == "個人番号は数字12桁で入力してください（ハイフン・空白は使えません）。"
    )


def test_errors_never_echo_the_number():
    for value in ("123456789012", "1234567890"):
        assert value not in my_number_error(value)


def test_mask_shows_at_most_four_digits():
    assert mask_my_number("3214") == "********3214"


@pytest.mark.parametrize(
    ("raw", "kana"),
    [
        ("やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),
        ("ｶﾞｯｺｳ", "ガッコウ"),
        ("ヤマダ　タロウ", "ヤマダタロウ"),
        ("  サトウ ", "サトウ"),
        ("ゔぁいおりん", "ヴァイオリン"),
        ("ｺｰﾋｰ", "コーヒー"),
    ],
)
def test_kana_normalisation(raw, kana):
    assert normalize_kana(raw) == kana
    assert is_katakana(normalize_kana(raw))


@pytest.mark.parametrize(
    ("term", "kana"),
    [("やま", True), ("ﾔﾏ", True), ("ヤマ", True), ("山田", False), ("1001", False), ("", False)],
)
def test_looks_like_kana(term, kana):
    assert looks_like_kana(term) is kana


@pytest.mark.parametrize(
    ("birth", "years", "expected"),
    [
        (date(1990, 5, 5), 75, date(2065, 5, 5)),
        (date(1952, 2, 29), 75, date(2027, 3, 1)),  # non-leap year: 1 March
        (date(1952, 2, 29), 72, date(2024, 2, 29)),  # leap year: the day itself
        (date(1956, 7, 1), 70, date(2026, 7, 1)),
        (date(2020, 12, 31), 6, date(2026, 12, 31)),
    ],
)
def test_anniversary(birth, years, expected):
    assert anniversary(birth, years) == expected


@pytest.mark.parametrize(
    ("birth", "years", "expected"),
    [
        (date(1956, 7, 1), 70, date(2026, 6, 30)),
        (date(1956, 7, 8), 70, date(2026, 7, 7)),
        (date(1956, 1, 1), 70, date(2025, 12, 31)),
        (date(1956, 2, 29), 70, date(2026, 2, 28)),
        (date(2020, 4, 1), 6, date(2026, 3, 31)),
    ],
)
def test_reach_is_the_day_before_the_anniversary(birth, years, expected):
    assert reach(birth, years) == expected


@pytest.mark.parametrize(
    "as_of",
    [date(2026, 2, 28), date(2026, 3, 1), date(2028, 2, 29), date(2028, 3, 1), date(2026, 12, 31)],
)
def test_born_after_matches_anniversary_for_every_birth_date_near_the_edge(as_of):
    cutoff = born_after_for_under(as_of, 75)
    for offset in range(-3, 4):
        birth = date.fromordinal(cutoff.toordinal() + offset)
        assert (birth > cutoff) == (anniversary(birth, 75) > as_of)
    for birth in (date(1951, 2, 28), date(1952, 2, 29), date(1953, 3, 1)):
        assert (birth > cutoff) == (anniversary(birth, 75) > as_of)


def test_stale_rows_are_older_than_the_stored_as_of():
    stored = date(2026, 10, 31)
    assert status_row_is_stale(stored_as_of=stored, row_as_of=date(2026, 9, 30))
    assert not status_row_is_stale(stored_as_of=stored, row_as_of=stored)
    assert not status_row_is_stale(stored_as_of=stored, row_as_of=date(2026, 11, 30))
    assert not status_row_is_stale(stored_as_of=None, row_as_of=date(2000, 1, 1))


@pytest.mark.parametrize(
    ("card", "registration", "dereg", "state"),
    [
        (None, None, False, "no_data"),
        ("none", "unregistered", False, "no_card"),
        ("held", "unregistered", False, "unregistered"),
        ("held", "registered", False, "registered"),
        ("held", "registered", True, "dereg_requested"),
        ("held", "deregistered", False, "deregistered"),
        ("returned", "unregistered", False, "returned"),
        ("returned", "registered", True, "returned"),
    ],
)
def test_myna_state(card, registration, dereg, state):
    assert myna_state(card=card, registration=registration, is_dereg_requested=dereg) == state


# --- ID-4 registered names ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "registrable"),
    [
        ("山田太郎", True),
        ("ヤマダ", True),
        ("ＡＢＣ", True),  # full-width alphanumerics are JIS X 0208
        ("髙橋", False),  # 髙 is a CP932 (IBM) extension, not JIS X 0208
        ("山﨑", False),
        ("𠮷田", False),
        ("德永", False),
        ("ﾔﾏﾀﾞ", False),  # half-width kana
        ("葛\U000e0100城", False),  # an ideographic variation selector
    ],
)
def test_registrable_is_jis_x_0208_not_cp932(text, registrable):
    assert is_registrable_name(text) is registrable
    if text in {"髙橋", "山﨑"}:
        assert text.encode("cp932")  # CP932 holds them: it is not the test


def test_registered_name_is_proposed_from_the_table_else_the_kana():
    table = parse_name_substitutions("髙=高\n﨑→崎\n\n  𠮷 = 吉 \nbad line")
    assert table == {"髙": "高", "﨑": "崎", "𠮷": "吉"}
    proposal = registered_name_proposal  # (one part of a name at a time)
    assert proposal(name="髙橋", kana="タカハシ", substitutions=table) == "高橋"
    assert proposal(name="𠮷田", kana="ヨシダ", substitutions=table) == "吉田"
    assert proposal(name="德永", kana="トクナガ", substitutions=table) == "トクナガ"
    assert proposal(name="葛\U000e0100城", kana="カツラギ", substitutions=table) == "葛城"
    assert proposal(name="山田", kana="ヤマダ", substitutions=table) == "山田"


def test_name_unregistered_until_a_registered_name_is_given():
    filed = {"family_name": "髙橋", "given_name": "一郎"}
    assert is_name_unregistered(**filed, registered_family_name="", registered_given_name="")
    assert not is_name_unregistered(
        **filed, registered_family_name="高橋", registered_given_name=""
    )
    assert not is_name_unregistered(
        family_name="高橋", given_name="一郎", registered_family_name="", registered_given_name=""
    )
    assert unregistrable_characters("髙﨑髙") == "髙﨑"
