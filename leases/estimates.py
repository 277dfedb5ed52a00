"""What a lease will cost and what is left, read before submitting: the price for a quantity
from the item's tiers, the member's remaining budgets, the account's estimated quota.

The quota the upstream reports is read now and then (``accounts.quota``); between readings the
console knows what it spent since, so the quota shown is the last reading minus that — an
estimate, marked as one (≈) wherever it is shown. Reads only; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import DeveloperAccount, Membership
from accounts.upstream import wire

from .errors import ServiceError
from .models import Item, Lease, LeaseRequest


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


def estimated_quotas(accounts) -> dict[int, Decimal]:
    """Each account's last quota reading minus the estimated cost of the numbers leased since
    (accounts never read are left out), in one query."""
    accounts = [a for a in accounts if a.quota is not None]
    if not accounts:
        return {}
    since = Q()
    for a in accounts:
        since |= Q(account_id=a.pk, leased_at__gte=a.quota_read_at or timezone.now())
    costs = dict(
        Lease.objects.filter(since).order_by().values_list("account_id").annotate(s=Sum("cost"))
    )
    return {a.pk: Decimal(a.quota) - (costs.get(a.pk) or Decimal(0)) for a in accounts}


def estimated_quota(account: DeveloperAccount) -> Decimal | None:
    return estimated_quotas([account]).get(account.pk)


@dataclass(frozen=True)
class Remaining:
    budget: Decimal
    left: Decimal

    @property
    def exceeded_by(self) -> Decimal:
        return max(-self.left, Decimal(0))


@dataclass(frozen=True)
class Quote:
    """What the lease form shows before submitting."""

    quantity: int  # what one request leases: the asked quantity within the item's limit
    asked: int
    unit_prices: list[Decimal]
    total: Decimal
    daily: Remaining | None
    monthly: Remaining | None
    quota: Decimal | None
    quota_after: Decimal | None

    @property
    def clamped(self) -> bool:
        """Whether the price is of fewer numbers than asked (the form then refuses the ask)."""
        return self.asked > self.quantity

    @property
    def over_budget(self) -> bool:
        return any(r is not None and r.left < self.total for r in (self.daily, self.monthly))

    @property
    def over_quota(self) -> bool:
        return self.quota is not None and self.quota < self.total


def _remaining(budget, user, account_id: int, since) -> Remaining | None:
    if budget is None:
        return None
    return Remaining(budget, budget - spent(user, account_id, since))


def quote(user, item: Item, quantity: int, membership: Membership | None) -> Quote:
    """The price of ``quantity`` numbers of ``item`` (the estimate the lease itself records),
    the member's budgets left today and this month, and the account's quota before and after."""
    asked, quantity = quantity, max(1, min(quantity, item.max_per_request))
    prices = estimate_costs(item, quantity)
    total = sum(prices, Decimal(0))
    day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    daily = monthly = None
    if membership is not None:
        daily = _remaining(membership.daily_budget, user, item.account_id, day)
        monthly = _remaining(membership.monthly_budget, user, item.account_id, day.replace(day=1))
    quota = estimated_quota(item.account)
    return Quote(
        quantity=quantity,
        asked=asked,
        unit_prices=prices,
        total=total,
        daily=daily,
        monthly=monthly,
        quota=quota,
        quota_after=None if quota is None else quota - total,
    )
