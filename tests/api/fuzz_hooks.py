"""Schemathesis hooks for the API's fuzz run (``test_schemathesis.py``): a valid long-poll
``wait`` above a second is sent as one second, so that a generated ``wait=120`` on a live
lease does not hold the run for two minutes (the one response time the run relaxes; values
the API must refuse are sent as generated)."""

from __future__ import annotations

import schemathesis

LONGEST_WAIT = 1


@schemathesis.hook
def before_call(context, case, kwargs):
    query = case.query
    if not isinstance(query, dict) or "wait" not in query:
        return
    try:
        wait = float(query["wait"])
    except (TypeError, ValueError):
        return
    if LONGEST_WAIT < wait <= 120:
        query["wait"] = LONGEST_WAIT
