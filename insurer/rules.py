"""Pure rules about the insurer itself (domain.md §1). No ORM, no clock."""

import re

LAW_NUMBER = "06"  # 組合管掌健康保険
_INSURER_NUMBER = re.compile(r"[0-9]{8}")
_MY_NUMBER = re.compile(r"[0-9]{12}")


def insurer_check_digit(first_seven: str) -> int:
    """ID-1: weights 2,1,2,1,… from the rightmost digit; two-digit products are summed."""
    total = 0
    for position, char in enumerate(reversed(first_seven)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def insurer_number_errors(value: str) -> list[str]:
    """Everything wrong with a 保険者番号, in Japanese; empty when it is valid."""
    if not _INSURER_NUMBER.fullmatch(value or ""):
        return ["保険者番号は半角数字8桁で入力してください。"]
    errors = []
    if value[:2] != LAW_NUMBER:
        errors.append(f"法別番号が「{value[:2]}」です。健康保険組合の法別番号は「06」です。")
    if not 1 <= int(value[2:4]) <= 47:
        errors.append(f"都道府県番号「{value[2:4]}」は01〜47ではありません。")
    if insurer_check_digit(value[:7]) != int(value[7]):
        errors.append("保険者番号の検証番号が正しくありません。")
    return errors


def is_valid_insurer_number(value: str) -> bool:
    return not insurer_number_errors(value)


def my_number_check_digit(first_eleven: str) -> int:
    """ID-2: P(n) is the n-th digit from the right, Q(n) = n+1 (n ≤ 6) or n−5 (n ≥ 7)."""
    total = 0
    for n, char in enumerate(reversed(first_eleven), start=1):
        total += int(char) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_my_number(digits: str) -> bool:
    """Twelve ASCII digits whose last one is the ID-2 check digit."""
    return bool(_MY_NUMBER.fullmatch(digits)) and my_number_check_digit(digits[:11]) == int(
        digits[11]
    )
