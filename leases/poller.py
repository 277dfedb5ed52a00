"""The poller: every waiting lease asked for its SMS about every 5 seconds, however many.

django-q2 schedules fire at most about every 30 seconds, and one task per poll would drown the
broker, so the sub-minute cadence is a loop that runs inside one django-q2 task:

1. A *slot* row (``PollerHeartbeat``) is claimed atomically; a slot whose heartbeat is older
   than ``ZHIMA_POLLER_STALE_SECONDS`` is free, so a loop killed with its worker is replaced.
   Several slots (``ZHIMA_POLLER_SLOTS``) run side by side in one or several clusters.
2. Each tick the loop collects finished polls and writes them in one transaction (leases,
   messages, the audit rows completed), then claims more due leases up to its capacity
   (``services.claim_due``: an atomic claim that moves ``next_poll_at`` one interval ahead,
   with SKIP LOCKED on PostgreSQL), writes one pending audit row per claimed poll in one
   insert (so a worker killed mid-poll leaves the calls it made on record), and hands them to
   a thread pool that shares the account's pooled HTTP connections. A slow answer never holds
   up the others.
3. About once a second it beats its heartbeat and starts the auto-release sweep on a thread
   of its own (one sweep at a time): a slow release call never stalls the polls.
4. After ``ZHIMA_POLLER_RUN_SECONDS`` it gives the slot back and the task enqueues its
   successor; the every-minute ``ensure_pollers`` schedule restarts any slot that went quiet.

Everything the loop needs is in the database, so a worker that comes back after a crash
simply claims what is due. An error of one account (an unreadable key, an upstream down) is
that account's poll or release failing; no error ends the loop before its time.

The host. Each loop occupies one django-q2 worker for its whole run, so:

- ``Q_CLUSTER["workers"]`` must exceed ``ZHIMA_POLLER_SLOTS``, or no worker is left for the
  schedules (quotas, alerts, reconciliation) and for the successor a loop enqueues;
- ``Q_CLUSTER["timeout"]`` must cover a whole run, ``task_seconds()``: the wait for a dead
  loop's slot, the run, and the drain of the calls still in flight; settings derive it from
  the same variables. django-q2 kills a task past its timeout;
- ``Q_CLUSTER["retry"]`` must exceed the timeout, or the broker hands a running loop's task
  to a second worker.

``leases.checks`` fails ``manage.py check`` (and the cluster's start) when one does not hold.
A (re)started cluster starts every slot's loop at once (``tasks.on_worker_start``).
Log lines written about one lease (its poll, its release) carry its id in the ``lease_id``
log context (``accounts.logging``).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from accounts import logging as log_context
from accounts.audit import CallContext, CallRow, reserve_calls
from accounts.models import DeveloperAccount
from accounts.registry import KeyUnreadable, check_key, client_for
from accounts.upstream import wire
from accounts.upstream.errors import UpstreamError
from accounts.upstream.hooks import PENDING

from . import services
from .models import PollerHeartbeat
from .services.polling import Due

log = logging.getLogger(__name__)

ACTOR = "poller"


class _Failure(UpstreamError):
    """A poll that failed for a reason of our own (a bug): counted as an error, not an end."""


def drain_seconds() -> float:
    """How long the calls in flight at the end of a run may still take: a verification and
    the call itself, each up to the connect and read timeouts."""
    return 2 * (settings.ZHIMA_CONNECT_TIMEOUT + settings.ZHIMA_READ_TIMEOUT)


def task_seconds() -> float:
    """The longest a ``run_poller`` task takes: waiting out a dead loop's slot, the run, and
    the drain. ``Q_CLUSTER["timeout"]`` must exceed it (see ``leases.checks``)."""
    wait_slot = settings.ZHIMA_POLLER_STALE_SECONDS + 1
    return wait_slot + settings.ZHIMA_POLLER_RUN_SECONDS + drain_seconds()


def claim_slot(slot: int, owner: str) -> bool:
    now = timezone.now()
    PollerHeartbeat.objects.get_or_create(slot=slot)
    stale = now - timedelta(seconds=settings.ZHIMA_POLLER_STALE_SECONDS)
    free = Q(beat_at__isnull=True) | Q(beat_at__lt=stale) | Q(owner=owner)
    return bool(PollerHeartbeat.objects.filter(free, slot=slot).update(owner=owner, beat_at=now))


def alive_slots() -> set[int]:
    """Slots whose loop beat in the last few seconds (a live loop beats about every second);
    a slot quiet for longer gets a new loop, which waits until the slot is free."""
    window = min(settings.ZHIMA_POLLER_STALE_SECONDS, 3.0)
    since = timezone.now() - timedelta(seconds=window)
    return set(PollerHeartbeat.objects.filter(beat_at__gte=since).values_list("slot", flat=True))


def _poll_row(due: Due, now, outcome: str = PENDING, msg: str = "") -> CallRow:
    params = {"itemId": due.item_id, "phoneNo": due.phone}
    return CallRow(
        now, due.account_id, f"task:{ACTOR}", None, "get_sms", params, None, 0, outcome, msg, "",
        due.lease_id, None, due.phone,
    )  # fmt: skip


def reserve_polls(dues: list[Due]) -> list[int]:
    """Write one pending ``get_sms`` audit row per claimed poll, in one insert; their ids are
    the polls' tickets."""
    if not dues:
        return []
    now = timezone.now()
    return reserve_calls([_poll_row(due, now) for due in dues])


class Poller:
    def __init__(
        self,
        slot: int = 0,
        run_seconds: float | None = None,
        concurrency: int | None = None,
        tick: float = 0.1,
        stop=None,
    ):
        self.slot = slot
        self.stop = stop  # an optional threading.Event that ends the loop early
        self.owner = uuid.uuid4().hex
        self.run_seconds = settings.ZHIMA_POLLER_RUN_SECONDS if run_seconds is None else run_seconds
        self.concurrency = concurrency or settings.ZHIMA_POLL_CONCURRENCY
        self.tick = tick
        self.accounts: dict[int, DeveloperAccount] = {}
        self.inflight: dict[Future, Due] = {}
        self.sweeping: Future | None = None
        self.next_sweep = 0.0
        self.unreadable: set[int] = set()  # accounts whose key alert this loop has raised
        self.totals: dict[str, int] = {}
        self.ctx = CallContext.for_task("auto-release")

    # -- one poll, on a pool thread ------------------------------------------------------------

    def _poll(self, due: Due, account: DeveloperAccount, ticket: int):
        token = log_context.lease_id.set(str(due.lease_id))
        try:
            return self._poll_once(due, account, ticket)
        finally:
            log_context.lease_id.reset(token)

    def _poll_once(self, due: Due, account: DeveloperAccount, ticket: int):
        rows: list = []
        ctx = CallContext.for_task(
            ACTOR, lease_id=due.lease_id, phone=due.phone, buffer=rows, tickets={"get_sms": ticket}
        )
        result: wire.SmsResult | UpstreamError | _Failure
        try:
            result = client_for(account).get_sms(due.item_id, due.phone, context=ctx)
        except KeyUnreadable as exc:
            log.error("poll not sent: %s", exc)
            return exc, [self._not_sent(due, ticket, str(exc))]
        except UpstreamError as exc:
            result = exc
        except Exception as exc:  # a bug must cost this poll, not the loop
            log.exception("poll failed")
            if ctx.tickets:  # the pending row was not used: nothing was sent
                rows.append(self._not_sent(due, ticket, type(exc).__name__))
            result = _Failure(type(exc).__name__)
        return result, rows

    @staticmethod
    def _not_sent(due: Due, ticket: int, why: str) -> CallRow:
        done = _poll_row(due, timezone.now(), "transport", f"not sent: {why}")
        done.id = ticket
        return done

    def _account(self, account_id: int) -> DeveloperAccount:
        account = self.accounts.get(account_id)
        if account is None:
            account = DeveloperAccount.objects.get(pk=account_id)
            self.accounts[account_id] = account
        return account

    # -- the sweep, on its own thread ----------------------------------------------------------

    def _sweep_once(self) -> dict[str, int]:
        try:
            return services.sweep(self.ctx)
        except Exception:  # retried in a second; the claimed releases come back when due
            log.exception("the auto-release sweep failed")
            return {"sweep_error": 1}

    def _sweep(self, pool: ThreadPoolExecutor, now: float) -> None:
        """Count a finished sweep; start the next one a second after the last one started, or
        as soon as it finishes when it took longer (one sweep at a time).

        A loop run inside a transaction (a test's) sweeps inline: another thread's connection
        would not see the rows that transaction has not committed."""
        if self.sweeping is not None and self.sweeping.done():
            self._add(self.sweeping.result())
            self.sweeping = None
        if self.sweeping is not None or now < self.next_sweep:
            return
        self.next_sweep = now + 1.0
        if connection.in_atomic_block:
            self._add(self._sweep_once())
        else:
            self.sweeping = pool.submit(self._sweep_once)

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        # A loop killed with its worker leaves a recent heartbeat: wait until it is stale.
        give_up = time.monotonic() + settings.ZHIMA_POLLER_STALE_SECONDS + 1
        while not claim_slot(self.slot, self.owner):
            if time.monotonic() >= give_up:
                return {"skipped": 1}
            time.sleep(0.5)
        deadline = time.monotonic() + self.run_seconds
        next_chores = 0.0
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"poll{self.slot}")
        sweeper = ThreadPoolExecutor(1, thread_name_prefix=f"sweep{self.slot}")
        try:
            while True:
                now = time.monotonic()
                try:
                    if not self._tick(pool, sweeper, now, now >= next_chores):
                        log.warning("poller slot %s was taken over; stopping", self.slot)
                        break
                except Exception:  # the database away for a moment, say: try again shortly
                    log.exception("poller tick failed")
                    time.sleep(1.0)
                if now >= next_chores:
                    next_chores = now + 1.0
                if now >= deadline or (self.stop is not None and self.stop.is_set()):
                    break
                if self.inflight:
                    wait(list(self.inflight), timeout=self.tick, return_when=FIRST_COMPLETED)
                else:
                    time.sleep(self.tick)
            last = [*self.inflight, *([self.sweeping] if self.sweeping else [])]
            wait(last, timeout=drain_seconds())
            self._collect()
            if self.sweeping is not None and self.sweeping.done():
                self._add(self.sweeping.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            sweeper.submit(connection.close)  # the sweep thread's own connection
            sweeper.shutdown(wait=True)
            PollerHeartbeat.objects.filter(slot=self.slot, owner=self.owner).update(
                owner="", beat_at=None
            )
        return self.totals

    def _tick(
        self, pool: ThreadPoolExecutor, sweeper: ThreadPoolExecutor, now: float, chores: bool
    ) -> bool:
        """Collect finished polls, about once a second beat and sweep, claim more due leases.
        False when another loop has taken the slot."""
        self._collect()
        if chores:
            if not self._beat():
                return False
            self.accounts.clear()  # pick up edited accounts about once a second
        self._sweep(sweeper, now)
        room = self.concurrency * 2 - len(self.inflight)
        if room > 0:
            dues = services.claim_due(room)
            for due, ticket in zip(dues, reserve_polls(dues), strict=True):
                fut = pool.submit(self._poll, due, self._account(due.account_id), ticket)
                self.inflight[fut] = due
        return True

    def _collect(self) -> None:
        done = [f for f in self.inflight if f.done()]
        if not done:
            return
        results, rows = [], []
        for fut in done:
            due = self.inflight.pop(fut)
            result, audit = fut.result()
            results.append((due, result))
            rows.extend(audit)
            if isinstance(result, KeyUnreadable) and due.account_id not in self.unreadable:
                self.unreadable.add(due.account_id)  # alerted at once, then once a minute
                check_key(self._account(due.account_id))
        self._add(services.apply_poll_results(results, f"task:{ACTOR}", rows))

    def _beat(self) -> bool:
        polled = self.totals.pop("_unbeaten", 0)
        return bool(
            PollerHeartbeat.objects.filter(slot=self.slot, owner=self.owner).update(
                beat_at=timezone.now(), polls=F("polls") + polled
            )
        )

    def _add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.totals[key] = self.totals.get(key, 0) + value
        self.totals["_unbeaten"] = self.totals.get("_unbeaten", 0) + counts.get("polled", 0)
