"""Cell values of the CSV exports, for the people who open them in a spreadsheet: times in the
console's local time zone (``TIME_ZONE``) as ISO 8601 with their offset, structured values
(an audit row's parameters) as JSON rather than Python's ``repr``."""

from __future__ import annotations

import json
from datetime import datetime

from django.utils import timezone


def cell(value):
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="seconds")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def row(values) -> list:
    return [cell(v) for v in values]
