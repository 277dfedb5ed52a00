"""The overview's figures: what a member wants at a glance when the console opens. Reads only.

Each figure is one aggregate query over the accounts the member can see: numbers held now,
codes received today, the member's spend today and this month against their budgets (the sums
the budget check makes, ``rules.spent``, read for all accounts at once), the quota left with
its trend over the last days, and the upstream's health over the last hour as the audit log
recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiCall, Outcome, Role

from .choices import HELD_STATES
from .models import Lease, LeaseRequest, Message

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


def figures(user, cards: list[dict], quotas: dict[int, Decimal]) -> Figures:
    """The figures over the accounts of ``cards`` (``account_cards``: their spends are summed,
    not read again)."""
    ids = [c["account"].pk for c in cards]
    now = timezone.localtime()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    held = Lease.objects.filter(account_id__in=ids, state__in=HELD_STATES).aggregate(
        all=Count("id"), mine=Count("id", filter=Q(user=user))
    )
    codes = Message.objects.filter(
        lease__account_id__in=ids, direction=Message.Direction.RECEIVED, created_at__gte=day
    ).count()
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
    calls = ApiCall.objects.filter(account_id__in=ids, created_at__gte=now - HEALTH_WINDOW)
    faulty = Q(outcome__in=UPSTREAM_FAULTS)
    counts = calls.aggregate(
        all=Count("id"), faults=Count("id", filter=faulty), last=Max("created_at", filter=faulty)
    )
    known = [quotas[i] for i in ids if i in quotas]
    return Figures(
        held=held["all"],
        held_mine=held["mine"],
        codes_today=codes,
        today=_total([c["today"] for c in cards]),
        month=_total([c["month"] for c in cards]),
        quota=sum(known, Decimal(0)) if known else None,
        trend=trend,
        health=Health(counts["all"], counts["faults"], counts["last"]),
    )


def _spends(user, ids: list[int], day, month) -> dict[int, tuple[Decimal, Decimal]]:
    """The member's spend today and this month on each account, as ``rules.spent`` counts it
    (the leases' cost plus what their requests still reserve), in two queries for all."""
    out: dict[int, tuple[Decimal, Decimal]] = {}
    leased = (
        Lease.objects.filter(user=user, account_id__in=ids, leased_at__gte=month)
        .order_by()
        .values_list("account_id")
        .annotate(t=Sum("cost", filter=Q(leased_at__gte=day)), m=Sum("cost"))
    )
    held = (
        LeaseRequest.objects.filter(
            user=user, account_id__in=ids, created_at__gte=month, reserved__gt=0
        )
        .order_by()
        .values_list("account_id")
        .annotate(t=Sum("reserved", filter=Q(created_at__gte=day)), m=Sum("reserved"))
    )
    for rows in (leased, held):
        for account_id, t, m in rows:
            today, this_month = out.get(account_id, (Decimal(0), Decimal(0)))
            out[account_id] = (today + (t or 0), this_month + (m or 0))
    return out


def account_cards(user, memberships, quotas: dict[int, Decimal]) -> list[dict]:
    """One card per account: its quota estimate, the member's role, and their spend today and
    this month against the membership's budgets."""
    day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    spends = _spends(user, [m.account_id for m in memberships], day, day.replace(day=1))
    cards = []
    for m in memberships:
        est = quotas.get(m.account_id)
        today, this_month = spends.get(m.account_id, (Decimal(0), Decimal(0)))
        cards.append(
            {
                "membership": m,
                "account": m.account,
                "today": Budgeted(today, m.daily_budget),
                "month": Budgeted(this_month, m.monthly_budget),
                "quota": est,
                "low": est is not None and est < m.account.low_quota_threshold,
                "can_manage": m.allows(Role.MANAGER),
            }
        )
    return cards
