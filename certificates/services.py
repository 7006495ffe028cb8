"""Writes for 資格確認書. The certificate model arrives with its issue; until then the
nightly expiry step (EX-1) has nothing to expire."""

from datetime import date


def certificates_expire(*, as_of: date) -> int:
    """EX-1: mark certificates whose valid_until < as_of `expired`. No certificates yet."""
    return 0
