"""Bidirectional control characters (RLO and its kin) written out as text.

A member chooses token names, lease tags and webhook URLs; the upstream chooses item names
and SMS text. A control character in one of them would reorder what a page or a terminal
shows next to it (a code read backwards, a name that seems to end in something it does not).
Wherever such a string is shown, each control is written out as ``[U+202E]``: on pages by
the ``|shown`` filter (which also isolates the string in ``<bdi>``), in the commands' output
by ``visible``. The stored value is never changed.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """``text`` with every bidirectional control written out as ``[U+XXXX]``."""
    return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", str(text))


def json_visible(text: str) -> str:
    """JSON text with every bidirectional control as a ``\\uXXXX`` escape: the same data
    for a JSON reader, nothing raw on a terminal."""
    return BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
