"""``|shown``: text from outside the console (SMS, item names, upstream messages) and text a
member chose (token names, tags, webhook URLs, account names) as text.

Bidirectional control characters (RLO and its kin) would reorder what the page shows, so a
code could read backwards or a name pretend to end in something it does not. Each is made
visible as ``[U+202E]`` and the whole is isolated in ``<bdi>`` from the text around it.
Registered as a template builtin (settings.TEMPLATES), so no template needs a ``{% load %}``.
"""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from accounts.bidi import BIDI_CONTROLS, visible

__all__ = ["BIDI_CONTROLS", "shown", "visible"]

register = template.Library()
# ``|visible``: for attributes, <title> and other places where ``<bdi>`` cannot go.
register.filter("visible", visible)


@register.filter(is_safe=True)
def shown(value) -> SafeString:
    if value is None or value == "":
        return mark_safe("")
    escaped = conditional_escape(visible(str(value)))
    return mark_safe(f"<bdi>{escaped}</bdi>")  # noqa: S308 - escaped just above
