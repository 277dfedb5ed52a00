"""``|shown``: text from outside the console (SMS, item names, upstream messages) as text.

Bidirectional control characters (RLO and its kin) would reorder what the page shows, so a
code could read backwards or a name pretend to end in something it does not. Each is made
visible as ``[U+202E]`` and the whole is isolated in ``<bdi>`` from the text around it.
Registered as a template builtin (settings.TEMPLATES), so no template needs a ``{% load %}``.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@register.filter
def visible(text: str) -> str:
    """``text`` with every bidirectional control written out as ``[U+XXXX]`` (for attributes
    and other places where ``<bdi>`` cannot go)."""
    return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", str(text))


@register.filter(is_safe=True)
def shown(value) -> SafeString:
    if value is None or value == "":
        return mark_safe("")
    escaped = conditional_escape(visible(str(value)))
    return mark_safe(f"<bdi>{escaped}</bdi>")  # noqa: S308 - escaped just above
