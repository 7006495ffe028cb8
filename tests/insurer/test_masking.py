"""No log line carries twelve digits in a row (issue 9: "no message, log or page ever
contains a 12-digit number")."""

import re

import pytest

from insurer.masking import mask_digit_runs, my_number_candidates
from tests.processes import manage

TWELVE_DIGITS = re.compile(r"[0-9０-９]{12}")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("番号 983205673214 です", "番号 ********3214 です"),
        ("9832-0567-3214", "********3214"),
        ("９８３２０５６７３２１４", "********３２１４"),
        ("12345678901234567", "********4567"),
        ("03-1234-5678", "03-1234-5678"),
        ("2026-11-21", "2026-11-21"),
    ],
)
def test_twelve_digits_are_masked_and_nothing_else(text, masked):
    assert mask_digit_runs(text) == masked


def test_candidates_are_exactly_twelve_digits():
    assert my_number_candidates("住所9832 0567 3214号") == ["983205673214"]
    assert my_number_candidates("1234567890123") == []


def test_a_log_record_and_its_traceback_are_masked_by_the_configured_handler():
    code = (
        "import logging\n"
        "log = logging.getLogger('insurer.test')\n"
        "log.error('番号 %s を処理できません', '983205673214')\n"
        "try:\n"
        "    raise ValueError('DETAIL: Key (number)=(9832-0567-3214) already exists')\n"
        "except ValueError:\n"
        "    log.exception('失敗')\n"
    )
    done = manage("shell", "-c", code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "番号 ********3214 を処理できません" in done.stderr
    assert "Key (number)=(********3214)" in done.stderr
    assert not TWELVE_DIGITS.search(done.stderr)
