"""Phone numbers grouped for the eye and bare for the clipboard (table-driven)."""

import pytest

from leases.phones import digits, grouped


@pytest.mark.parametrize(
    ("phone", "shown", "copied"),
    [
        ("13800138000", "138 0013 8000", "13800138000"),
        ("138-0013-8000", "138 0013 8000", "13800138000"),
        ("+8613800138000", "+86 138 0013 8000", "+8613800138000"),
        ("+447700900123", "+44 770 090 0123", "+447700900123"),
        ("+1234567890", "+1 234 567 890", "+1234567890"),
        ("+12025550123", "+1 202 555 0123", "+12025550123"),
        ("+66 812 345 678", "+66 812 345 678", "+66812345678"),
        ("+85212345678", "+852 1234 5678", "+85212345678"),
        ("+84123456789", "+84 123 456 789", "+84123456789"),
        ("0044770090012", "004 477 009 0012", "0044770090012"),
        ("12345", "12345", "12345"),
        ("", "", ""),
    ],
)
def test_it_groups_for_the_eye_and_copies_digits(phone, shown, copied):
    assert grouped(phone) == shown
    assert digits(phone) == copied
