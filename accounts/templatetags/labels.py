"""``|endpoint_label``: an upstream endpoint's name (``get_numbers``) as the UI says it.

Registered as a template builtin (settings.TEMPLATES), like ``|shown``.
"""

from __future__ import annotations

from django import template

from accounts.models import ENDPOINT_LABELS

register = template.Library()


@register.filter
def endpoint_label(name: str) -> str:
    return str(ENDPOINT_LABELS.get(name, name))
