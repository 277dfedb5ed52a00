"""Phone numbers as people read and paste them: grouped for the eye, bare for the clipboard.

The upstream gives digit strings; international ones may carry a leading ``+`` and a country
code. A Chinese mobile number reads 3-4-4 (``138 0013 8000``); an international one reads
``+44 770 090 0123``: the country code apart (found by the ITU's numbering zones), the rest in
threes with a final four. Pure functions, no Django.
"""

from __future__ import annotations

import re

# Country calling codes by their first digits: 1 and 7 are one digit long; in every other zone
# the two-digit codes are listed, the rest of the zone is three digits long (ITU-T E.164).
_ONE_DIGIT = {"1", "7"}
_TWO_DIGIT = {
    "20", "27",
    "30", "31", "32", "33", "34", "36", "39",
    "40", "41", "43", "44", "45", "46", "47", "48", "49",
    "51", "52", "53", "54", "55", "56", "57", "58",
    "60", "61", "62", "63", "64", "65", "66",
    "81", "82", "84", "86",
    "90", "91", "92", "93", "94", "95", "98",
}  # fmt: skip


def digits(phone: str) -> str:
    """What the copy button puts on the clipboard: the number without spaces or dashes, with
    its ``+`` when international (the country code cannot be told apart once it is gone)."""
    phone = phone.strip()
    bare = re.sub(r"\D", "", phone)
    return "+" + bare if phone.startswith("+") and bare else bare


def country_code(bare: str) -> str:
    """The calling code at the start of ``bare`` (digits after the ``+``)."""
    if bare[:1] in _ONE_DIGIT:
        return bare[:1]
    return bare[:2] if bare[:2] in _TWO_DIGIT else bare[:3]


def _groups(rest: str) -> list[str]:
    """A Chinese mobile number 3-4-4; any other threes, the last group four digits when the
    length allows (``770 090 0123``)."""
    if len(rest) == 11 and rest.startswith("1"):
        return [rest[:3], rest[3:7], rest[7:]]
    out = []
    while len(rest) > 4:
        take = 4 if len(rest) == 8 else 3  # 8 digits read as 4-4, not 3-3-2
        out.append(rest[:take])
        rest = rest[take:]
    return [*out, rest] if rest else out


def parts(phone: str) -> list[str]:
    """The groups a number reads in: ``13800138000`` → ``138 0013 8000``, ``+447700900123`` →
    ``+44 770 090 0123``; anything that does not look like a phone number is one part."""
    number = digits(phone)
    if not number or len(number.lstrip("+")) < 7:
        return [phone] if phone else []
    if number.startswith("+"):
        bare = number[1:]
        cc = country_code(bare)
        return ["+" + cc, *_groups(bare[len(cc) :])]
    return _groups(number)


def grouped(phone: str) -> str:
    return " ".join(parts(phone))
