"""The overview's figures: what a member wants at a glance when the console opens. Reads only.

Each figure is one or two aggregate queries over the accounts the member can see: numbers held
now, codes received today, the member's spend today and this month against their budgets (the
same sums the budget check uses, ``rules.spent``), the quota left with its trend over the last
days, and the upstream's health over the last hour as the audit log recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiCall, Outcome, Role

from .choices import HELD_STATES
from .models import Lease, Message
from .rules import spent

TREND_DAYS = 7
HEALTH_WINDOW = timedelta(hours=1)
# Calls whose failure is the upstream's or the network's, not a refusal of the request itself.
UPSTREAM_FAULTS = (Outcome.TRANSPORT, Outcome.UNREADABLE, Outcome.UNKNOWN)


@dataclass
class Budgeted:
    """A spend and the budget it counts against (``None``: no budget)."""

    spent: Decimal
    budget: Decimal | None

    @property
    def percent(self) -> int:
        if not self.budget:
            return 0
        return min(100, int(self.spent * 100 / self.budget))

    @property
    def over(self) -> bool:
        return self.budget is not None and self.spent > self.budget


def _total(parts: list[Budgeted]) -> Budgeted:
    """Spends add up; a budget for the whole only when every part has one."""
    budgets = [p.budget for p in parts if p.budget is not None]
    return Budgeted(
        sum((p.spent for p in parts), Decimal(0)),
        sum(budgets, Decimal(0)) if parts and len(budgets) == len(parts) else None,
    )


@dataclass
class Health:
    calls: int
    faults: int
    last_fault_at: object = None

    @property
    def state(self) -> str:
        """``idle`` (no call in the window), ``ok``, ``degraded`` (some faults) or ``down``."""
        if not self.calls:
            return "idle"
        if not self.faults:
            return "ok"
        return "down" if self.faults * 2 >= self.calls else "degraded"

    @property
    def percent_ok(self) -> int:
        return 100 if not self.calls else int((self.calls - self.faults) * 100 / self.calls)


@dataclass
class Figures:
    held: int
    held_mine: int
    codes_today: int
    today: Budgeted
    month: Budgeted
    quota: Decimal | None
    spent_24h: Decimal
    trend: list[tuple[date, Decimal]] = field(default_factory=list)
    health: Health = field(default_factory=lambda: Health(0, 0))

    @property
    def days_left(self) -> int | None:
        """Days the quota lasts at the last days' average spend (``None``: nothing spent)."""
        total = sum((s for _d, s in self.trend), Decimal(0))
        if self.quota is None or total <= 0:
            return None
        return int(self.quota / (total / len(self.trend)))

    @property
    def bars(self) -> list[tuple[date, Decimal, int]]:
        """The trend as (day, spend, height in tenths of the highest day) for a small bar
        chart drawn by CSS classes ``h0``–``h10`` (no inline style under the CSP)."""
        top = max((s for _d, s in self.trend), default=Decimal(0))
        return [(d, s, round(s * 10 / top) if top else 0) for d, s in self.trend]

    @property
    def spend_tiles(self) -> list[tuple[str, Budgeted, str]]:
        return [
            (_("Your spend today"), self.today, "wallet"),
            (_("Your spend this month"), self.month, "calendar"),
        ]


def figures(user, memberships, quotas: dict[int, Decimal]) -> Figures:
    ids = [m.account_id for m in memberships]
    now = timezone.localtime()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    held = Lease.objects.filter(account_id__in=ids, state__in=HELD_STATES).aggregate(
        all=Count("id"), mine=Count("id", filter=Q(user=user))
    )
    codes = Message.objects.filter(
        lease__account_id__in=ids, direction=Message.Direction.RECEIVED, created_at__gte=day
    ).count()
    today = _total([Budgeted(spent(user, m.account_id, day), m.daily_budget) for m in memberships])
    this_month = _total(
        [Budgeted(spent(user, m.account_id, month), m.monthly_budget) for m in memberships]
    )
    first = day - timedelta(days=TREND_DAYS - 1)
    daily = dict(
        Lease.objects.filter(account_id__in=ids, leased_at__gte=first)
        .annotate(d=TruncDate("leased_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("d")
        .annotate(s=Sum("cost"))
    )
    trend = [
        (d, daily.get(d) or Decimal(0))
        for d in ((first + timedelta(days=i)).date() for i in range(TREND_DAYS))
    ]
    spent_24h = Lease.objects.filter(
        account_id__in=ids, leased_at__gte=now - timedelta(hours=24)
    ).aggregate(s=Sum("cost"))["s"] or Decimal(0)
    calls = ApiCall.objects.filter(account_id__in=ids, created_at__gte=now - HEALTH_WINDOW)
    faulty = Q(outcome__in=UPSTREAM_FAULTS)
    counts = calls.aggregate(all=Count("id"), faults=Count("id", filter=faulty))
    last_fault = (
        calls.filter(faulty).order_by("-created_at").values_list("created_at", flat=True).first()
        if counts["faults"]
        else None
    )
    known = [quotas[i] for i in ids if i in quotas]
    return Figures(
        held=held["all"],
        held_mine=held["mine"],
        codes_today=codes,
        today=today,
        month=this_month,
        quota=sum(known, Decimal(0)) if known else None,
        spent_24h=spent_24h,
        trend=trend,
        health=Health(counts["all"], counts["faults"], last_fault),
    )


def account_cards(user, memberships, quotas: dict[int, Decimal]) -> list[dict]:
    """One card per account: its quota estimate, the member's role, and their spend today and
    this month against the membership's budgets."""
    now = timezone.localtime()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    cards = []
    for m in memberships:
        est = quotas.get(m.account_id)
        cards.append(
            {
                "membership": m,
                "account": m.account,
                "today": Budgeted(spent(user, m.account_id, day), m.daily_budget),
                "month": Budgeted(spent(user, m.account_id, day.replace(day=1)), m.monthly_budget),
                "quota": est,
                "low": est is not None and est < m.account.low_quota_threshold,
                "can_manage": m.allows(Role.MANAGER),
            }
        )
    return cards
