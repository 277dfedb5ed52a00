"""Rules the services apply that write nothing: errors, budgets, cost estimates, cadence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import DeveloperAccount
from accounts.upstream import wire

from .errors import ServiceError
from .models import EndReason, Item, Lease, LeaseRequest, LeaseState

NOT_LEASED = re.compile(r"未获取|已释放|不存在该号码|号码不存在|not leased", re.I)


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


def check_not_reconciling(account_id: int) -> None:
    """Refuse a lease while the console releases all on the account (``leases.reconcile``)."""
    since = timezone.now() - reconcile_hold()
    if DeveloperAccount.objects.filter(pk=account_id, reconciling_since__gte=since).exists():
        raise ServiceError(
            _(
                "The console is releasing this account's numbers after an unclear lease "
                "answer. Try again in a few seconds."
            )
        )


def poll_interval() -> timedelta:
    return timedelta(seconds=settings.ZHIMA_POLL_INTERVAL)


# ---------------------------------------------------------------------------------------------
# Leasing


def spent(user, account_id: int, since) -> Decimal:
    """What the user's leases on the account cost since ``since``, plus what their lease
    requests still hold in reserve: requests in flight, and ambiguous ones at their worst case
    (the upstream may have charged numbers the console cannot name)."""
    leased = Lease.objects.filter(user=user, account_id=account_id, leased_at__gte=since)
    held = LeaseRequest.objects.filter(
        user=user, account_id=account_id, created_at__gte=since, reserved__gt=0
    )
    total = leased.aggregate(s=Sum("cost"))["s"] or Decimal(0)
    return total + (held.aggregate(s=Sum("reserved"))["s"] or Decimal(0))


def estimate_costs(item: Item, quantity: int) -> list[Decimal]:
    """The estimated price of each of the next ``quantity`` numbers (see ``Lease`` docstring)."""
    tiers = item.tier_list()
    if not tiers:
        return [Decimal(0)] * quantity
    n0 = Lease.objects.filter(item=item).count()
    return [wire.unit_price(tiers, n0 + i + 1) for i in range(quantity)]


def check_budget(membership, user, costs: list[Decimal]) -> None:
    """Refuse when ``costs`` would take the user past a budget. Only meaningful under the
    membership's row lock, with the reservation written in the same transaction
    (``services.leasing``): otherwise two requests both see the old spend."""
    if user.pk is None:  # the command line's system actor has no budget
        return
    now = timezone.localtime()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    want = sum(costs, Decimal(0))
    for budget, since, label in (
        (membership.daily_budget, day, _("daily")),
        (membership.monthly_budget, day.replace(day=1), _("monthly")),
    ):
        if budget is not None and spent(user, membership.account_id, since) + want > budget:
            raise ServiceError(
                _("This would exceed your %(period)s budget of %(budget)s on this account.")
                % {"period": label, "budget": budget}
            )


@dataclass(frozen=True)
class Due:
    lease_id: int
    account_id: int
    item_id: str
    phone: str


# How a poll answer other than "waiting" or "received" ends a lease (the number is released).
POLL_ENDS = {
    3: (LeaseState.FAILED, EndReason.LOST),
    4: (LeaseState.EXPIRED, EndReason.TIMEOUT),
}
