"""``|money``: one format for every amount (prices, costs, budgets, quotas) in the active
language: at least two decimals, up to four when a price needs them (0.015), no other trailing
zeros, grouped as the language groups thousands. Registered as a template builtin."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def money(value) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError):
        return str(value)
    decimals = max(2, len(format(amount, "f").partition(".")[2].rstrip("0")))
    return number_format(amount, decimal_pos=decimals, force_grouping=True)
