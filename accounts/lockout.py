"""The sign-in lockout: per (username, address) pair, and per address with a higher limit.

django-axes counts failures per lockout parameter and compares the largest count with one
limit. Behind a proxy, or in one office, the team shares an address: a limit per address
alone would let one person's typos lock everyone out, and one per username alone would let
anyone lock out a named user. So the pair has ``AXES_FAILURE_LIMIT`` and the address alone
``AXES_ADDRESS_FAILURE_LIMIT`` (against one address trying a password on many usernames);
the address is ``zhima_site.clientip``'s.
"""

from __future__ import annotations

from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address, get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.shortcuts import render
from django.utils import timezone


def _cooloff() -> timedelta:
    return timedelta(hours=settings.AXES_COOLOFF_TIME)


def _recent():
    return AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - _cooloff())


def _failures(qs) -> int:
    return qs.aggregate(n=Sum("failures_since_start"))["n"] or 0


class PairAndAddressHandler(AxesDatabaseHandler):
    """axes' database handler with a limit of its own for the address alone."""

    def get_failures(self, request, credentials=None) -> int:
        pair, *rest = self.get_user_attempts(request, credentials)
        pair_failures = _failures(pair)
        if rest and _failures(rest[0]) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            # Reported on the pair's scale, the one limit axes compares with.
            return max(pair_failures, settings.AXES_FAILURE_LIMIT)
        return pair_failures

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A success clears the pair's failures only: one valid sign-in must not wipe the
        count of an address that is trying many usernames."""
        pair = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair.delete()
        return count


def locked_until(username: str, address: str):
    """When the lockout of this pair or address ends at the latest (each failure during the
    lockout extends it); None when neither is locked."""
    recent = _recent()
    pair = recent.filter(username=username, ip_address=address)
    by_address = recent.filter(ip_address=address)
    last = None
    if _failures(pair) >= settings.AXES_FAILURE_LIMIT:
        last = pair.aggregate(t=Max("attempt_time"))["t"]
    if _failures(by_address) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
        at = by_address.aggregate(t=Max("attempt_time"))["t"]
        last = max(filter(None, [last, at]))
    return last + _cooloff() if last else None


def locked_out(request, original_response=None, credentials=None):
    """The locked-out page (429), saying until when."""
    username = get_client_username(request, credentials) or ""
    until = locked_until(username, get_client_ip_address(request))
    return render(
        request,
        "registration/locked_out.html",
        {"username": username, "until": until},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


def unlock(usernames) -> int:
    """Clear the failures of these users (from every address): staff's unlock."""
    count, _ = AccessAttempt.objects.filter(username__in=list(usernames)).delete()
    return count
