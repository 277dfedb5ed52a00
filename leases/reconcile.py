"""Freeing the numbers a lease call may have leased without saying which.

When a get-numbers answer is lost (a dropped connection, an unreadable body, an HTTP error
after the request went out), the upstream may have leased and charged numbers the console
cannot name: the API lists no leased numbers, and frees unnamed numbers only all at once
(``releaseAll.php``), which would also free every number the team is using. So the console
waits until the account is idle — no number held, no lease request in flight — and then
releases all. Until then, the upstream's own forced release after 30 minutes frees them.

A handshake keeps a new lease from slipping in between the check and the release: the
reconciler first marks the account (``reconciling_since``) and then looks for work in flight;
a lease request first records itself and then looks for the mark
(``services.leasing.check_not_reconciling``). Both write before they read, so whichever comes second
sees the other.

A lease request still pending after the longest a lease request can take
(``timing.reconcile_hold``) was left by a process that died mid-call — a web worker killed by
its server's timeout, or by hand — and is treated as ambiguous
(``services.settle_orphaned_requests``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiCall, DeveloperAccount
from accounts.permissions import SystemActor

from . import services
from .errors import ServiceError
from .models import Lease, LeaseRequest
from .timing import reconcile_hold

ACTOR = "task:reconcile"
log = logging.getLogger(__name__)


def _window(now):
    return now - timedelta(minutes=settings.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES)


def unresolved(account: DeveloperAccount, now=None):
    """Ambiguous lease requests on the account that no release all has covered yet, and
    whose numbers (if any) the upstream has not yet freed by itself."""
    now = now or timezone.now()
    qs = LeaseRequest.objects.filter(
        account=account, outcome=LeaseRequest.Outcome.AMBIGUOUS, created_at__gte=_window(now)
    )
    last = (
        ApiCall.objects.filter(endpoint="release_all", account=account, outcome="ok")
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:  # a release all that began after the lease call had ended covers it
        qs = qs.filter(finished_at__gte=last)
    return qs


def reconcile(account: DeveloperAccount, now=None) -> str:
    """Release all on ``account`` if it needs it and is idle: "clear", "busy", "released" or
    "error: …"."""
    now = now or timezone.now()
    services.settle_orphaned_requests(now, account.pk)
    if not unresolved(account, now).exists():
        return "clear"
    DeveloperAccount.objects.filter(pk=account.pk).update(reconciling_since=now)
    try:
        in_flight = LeaseRequest.objects.filter(
            account=account,
            outcome=LeaseRequest.Outcome.PENDING,
            created_at__gte=now - reconcile_hold(),
        ).exists()
        if in_flight or Lease.objects.held().filter(account=account).exists():
            return "busy"
        services.release_all(SystemActor(ACTOR), account)
        return "released"
    except ServiceError as exc:
        return f"error: {exc}"
    finally:
        DeveloperAccount.objects.filter(pk=account.pk).update(reconciling_since=None)


def reconcile_accounts(now=None) -> dict[str, str]:
    """Every account with unresolved ambiguous lease requests, reconciled when idle (a
    request left pending by a dead process counts as ambiguous)."""
    now = now or timezone.now()
    services.settle_orphaned_requests(now)
    ids = LeaseRequest.objects.filter(
        outcome=LeaseRequest.Outcome.AMBIGUOUS, created_at__gte=_window(now)
    ).values_list("account_id", flat=True)
    out = {}
    for account in DeveloperAccount.objects.filter(pk__in=set(ids), active=True):
        try:
            out[account.name] = reconcile(account, now)
        except Exception as exc:  # one account's failure must not stop the others
            log.exception("reconciling %s failed", account)
            out[account.name] = f"error: {type(exc).__name__}: {exc}"
    return out
