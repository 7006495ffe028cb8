import pytest

from insurer.rules import insurer_check_digit, insurer_number_errors, is_valid_insurer_number


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("06010391", True),  # domain.md: total 19 -> 1
        ("06130090", True),  # total 20 -> 0
        ("06130091", False),  # wrong check digit
        ("33120015", False),  # valid check digit, but law number 33
    ],
)
def test_insurer_number_examples(number, valid):
    assert is_valid_insurer_number(number) is valid


@pytest.mark.parametrize(("first_seven", "digit"), [("0601039", 1), ("0613009", 0), ("3312001", 5)])
def test_check_digit_arithmetic(first_seven, digit):
    assert insurer_check_digit(first_seven) == digit


def test_law_number_33_is_rejected_for_its_law_number_only():
    errors = insurer_number_errors("33120015")
    assert len(errors) == 1
    assert "法別番号" in errors[0]


@pytest.mark.parametrize(
    "value", ["", "0601039", "060103911", "06O10391", "０６０１０３９１", "06-010391"]
)
def test_malformed_insurer_numbers(value):
    assert insurer_number_errors(value) == ["保険者番号は半角数字8桁で入力してください。"]


def test_prefecture_must_be_01_to_47():
    first = "0648001"
    number = first + str(insurer_check_digit(first))
    assert any("都道府県番号" in error for error in insurer_number_errors(number))
