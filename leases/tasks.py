"""django-q2 entry points: thin wrappers that call the poller and the services.

A task that goes through several accounts or items keeps going when one of them fails, for
whatever reason (an unreadable key, an upstream down, a bug): the failure is logged and
reported in the task's result, and the next one is done (``_each``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from accounts import alerts
from accounts.audit import CallContext, settle_abandoned_calls
from accounts.models import DeveloperAccount
from accounts.quota import refresh_quota
from accounts.registry import check_key
from accounts.upstream.errors import UpstreamError

from . import catalog, reconcile
from .errors import ServiceError
from .models import Item, Lease
from .poller import Poller, alive_slots
from .webhooks import tasks as webhook_tasks

log = logging.getLogger(__name__)


def _each(task: str, things, key, work) -> dict:
    """``work(thing)`` for each thing, by ``key(thing)``; an error of one is that one's
    result (upstream errors as their text, anything else logged with its traceback)."""
    out = {}
    for thing in things:
        name = key(thing)
        try:
            out[name] = work(thing)
        except (UpstreamError, ServiceError) as exc:
            out[name] = f"error: {exc}"
        except Exception as exc:  # one account's failure must not stop the others
            log.exception("%s: %s failed", task, name)
            out[name] = f"error: {type(exc).__name__}: {exc}"
    return out


def run_poller(slot: int = 0, chain: bool = True) -> dict:
    """Run the polling loop for one slot, then hand over to a successor task."""
    totals = Poller(slot).run()
    if chain and "skipped" not in totals:
        async_task("leases.tasks.run_poller", slot, task_name=f"poller-{slot}", group="poller")
    totals.pop("_unbeaten", None)
    return totals


def on_worker_start(sender, proc_name=None, **kwargs) -> None:
    """django-q2's ``post_spawn``: a (re)started cluster starts its pollers at once instead of
    waiting for the every-minute schedule — for every slot, because a loop killed with the
    previous cluster still looks alive for a few seconds. Each loop waits out a dead loop's
    heartbeat and takes its slot, or stands aside after that wait if the slot is really alive
    (in another cluster)."""
    async_task("leases.tasks.ensure_pollers", True, task_name="ensure-pollers", group="poller")


def ensure_pollers(every_slot: bool = False) -> list[int]:
    """Every minute: start a loop for each slot whose heartbeat went quiet (``every_slot``:
    for each slot, see ``on_worker_start``)."""
    alive = set() if every_slot else alive_slots()
    started = [s for s in range(settings.ZHIMA_POLLER_SLOTS) if s not in alive]
    for slot in started:
        async_task("leases.tasks.run_poller", slot, task_name=f"poller-{slot}", group="poller")
    return started


def refresh_quotas() -> dict:
    """Verify each active account: renews the upstream session and reads the quota."""

    def one(account: DeveloperAccount):
        quota = refresh_quota(account, CallContext.for_task("quota"))
        if account.quota_low:  # the alert mail itself is sent once, by refresh_quota
            log.warning("developer account %s is low on quota: %s left", account, account.quota)
        return quota

    return _each("refresh_quotas", DeveloperAccount.objects.filter(active=True), str, one)


def refresh_items() -> dict:
    def one(item: Item) -> str:
        catalog.refresh_item(item.account, item.item_id, CallContext.for_task("items"))
        return "ok"

    items = Item.objects.select_related("account").filter(
        account__active=True, retired_at__isnull=True
    )
    return _each("refresh_items", items, lambda i: f"{i.account_id}:{i.item_id}", one)


def check_alerts() -> dict:
    """Every minute: the upstream-failing, poller-behind and key-unreadable conditions of each
    account; and the audit rows a killed process left pending are settled as "outcome
    unknown"."""
    now = timezone.now()
    settled = settle_abandoned_calls(now)
    overdue = dict(Lease.objects.due(now).values_list("account_id").annotate(m=Min("next_poll_at")))

    def one(account: DeveloperAccount) -> list[str]:
        check_key(account)
        alerts.check_upstream(account, now)
        alerts.check_poller(account, overdue.get(account.pk), now)
        return list(account.alerts.filter(active=True).values_list("kind", flat=True))

    out = _each("check_alerts", DeveloperAccount.objects.filter(active=True), str, one)
    if settled:
        out["audit rows settled"] = settled
    return out


def reconcile_accounts() -> dict:
    """Every minute: release all on idle accounts where a lost lease answer may have left
    numbers (``leases.reconcile``)."""
    return reconcile.reconcile_accounts()


def optimize_database() -> str:
    """Hourly: keep SQLite's query-planner statistics fresh (PostgreSQL's autovacuum does
    this by itself). Without them SQLite picks poor indexes once the history grows."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return "not needed"
    with connection.cursor() as cur:
        cur.execute("PRAGMA optimize")
    return "optimized"


SCHEDULES = {
    "zhima-pollers": ("leases.tasks.ensure_pollers", 1),
    "zhima-quotas": ("leases.tasks.refresh_quotas", 14),
    "zhima-items": ("leases.tasks.refresh_items", 60),
    "zhima-alerts": ("leases.tasks.check_alerts", 1),
    "zhima-optimize": ("leases.tasks.optimize_database", 60),
    "zhima-reconcile": ("leases.tasks.reconcile_accounts", 1),
    **webhook_tasks.SCHEDULES,
}


def ensure_schedules() -> None:
    """Declare the schedules idempotently (never delete and recreate)."""
    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
