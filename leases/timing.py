"""How long the console waits on the upstream: the patience of a claim, of a lease request's
chain of calls, of the poll cadence. Read from the settings only (the gunicorn configuration
imports it to size its worker timeout)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings


def in_flight() -> timedelta:
    """How long a claimed release stays claimed: longer than a release or block call can take
    (the lease call's longer patience does not apply to them)."""
    return timedelta(seconds=settings.ZHIMA_CONNECT_TIMEOUT + settings.ZHIMA_READ_TIMEOUT + 5)


def lease_chain() -> timedelta:
    """The longest a lease request's upstream calls can take: a verification and the lease
    call, each twice when the upstream says the session expired (the client verifies again
    and repeats the call once). The web server's worker timeout must be longer (README)."""
    connect = settings.ZHIMA_CONNECT_TIMEOUT
    verify = connect + settings.ZHIMA_READ_TIMEOUT
    lease = connect + max(settings.ZHIMA_READ_TIMEOUT, settings.ZHIMA_LEASE_READ_TIMEOUT)
    return timedelta(seconds=2 * verify + 2 * lease)


RECONCILE_MARGIN = timedelta(seconds=15)


def reconcile_hold() -> timedelta:
    """How long a lease request can be in flight: one still pending after this was left by a
    process that died mid-call, and is reconciled as ambiguous (``leases.reconcile``). Also how
    long a reconciliation's mark on an account counts (a reconciler that died leaves it)."""
    return lease_chain() + RECONCILE_MARGIN


def poll_interval() -> timedelta:
    return timedelta(seconds=settings.ZHIMA_POLL_INTERVAL)


# The first poll of a new lease comes at the cadence give or take this fraction of it.
FIRST_POLL_SPREAD = 0.1


def first_poll() -> timedelta:
    """When a new lease is first polled: about one interval after it, spread at random by
    ``FIRST_POLL_SPREAD``. Numbers leased together (a test suite's workers starting at once)
    would otherwise be polled together at every interval after, their codes found in one poll
    round and their next requests arrive at the console at once; spread, they take turns. On
    average the cadence is the interval all the same."""
    spread = random.uniform(-FIRST_POLL_SPREAD, FIRST_POLL_SPREAD)
    return timedelta(seconds=settings.ZHIMA_POLL_INTERVAL * (1 + spread))
