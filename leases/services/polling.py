"""Polling: claims and results (the loop that drives them is in ``leases/poller.py``)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import CallRow, write_calls
from accounts.metrics import call_tallies, lateness_tallies
from accounts.models import Tally
from accounts.upstream import wire
from accounts.upstream.errors import NotLeased, UpstreamError

from .. import codes, signals
from ..models import ACTIVE_STATES, EndReason, EventKind, Lease, LeaseState, Message, SendStatus
from ..timing import poll_interval
from .events import event
from .releasing import queue_release
from .transitions import touch, transition

log = logging.getLogger(__name__)


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


def claim_due(limit: int, now: datetime | None = None) -> list[Due]:
    """Claim up to ``limit`` waiting leases whose poll is due, moving their next poll one
    interval ahead. On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent pollers
    take disjoint sets; on SQLite the IMMEDIATE transaction serialises the claim."""
    now = now or timezone.now()
    # A plain read first: most ticks find nothing due and then take no lock (on SQLite the
    # claim's IMMEDIATE transaction holds back every other writer while it runs).
    if not Lease.objects.due(now).exists():
        return []
    with transaction.atomic():
        qs = Lease.objects.due(now).order_by("next_poll_at")
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(
            qs.values_list("id", "account_id", "item__item_id", "phone", "next_poll_at")[:limit]
        )
        if rows:
            Lease.objects.filter(pk__in=[r[0] for r in rows]).update(
                next_poll_at=now + poll_interval()
            )
            Tally.bump(lateness_tallies([(now - r[4]).total_seconds() for r in rows]))
    return [Due(*r[:4]) for r in rows]


def apply_poll_results(
    results: list[tuple[Due, wire.SmsResult | UpstreamError]], actor: str, audit_rows: list[CallRow]
) -> dict[str, int]:
    """Write a batch of poll answers: one UPDATE for the many still waiting, one transaction
    for all, and the batch's audit rows completed in one statement."""
    now = timezone.now()
    counts: defaultdict[str, int] = defaultdict(int)
    # Every answered poll counts, the one that ends the lease too (a stored SMS counts its
    # poll in its own transition).
    waiting_ids, ended_ids = [], []
    with transaction.atomic():
        write_calls(audit_rows)
        for due, result in results:
            if isinstance(result, NotLeased):
                ended_ids.append(due.lease_id)
                counts["gone"] += _end(
                    due.lease_id,
                    LeaseState.EXPIRED,
                    actor,
                    EndReason.GONE,
                    {"msg": result.msg},
                    from_states=(LeaseState.WAITING,),
                )
            elif isinstance(result, UpstreamError):
                log.warning("poll failed: %s", result, extra={"lease_id": due.lease_id})
                counts["error"] += 1
                waiting_ids.append(due.lease_id)
            elif result.status == 1:
                waiting_ids.append(due.lease_id)
            elif result.status == 2 and result.sm:
                if _receive(due.lease_id, result.sm, actor, now):
                    counts["received"] += 1
                else:  # the upstream repeats the latest SMS: not a new one, still waiting
                    waiting_ids.append(due.lease_id)
            elif result.status in POLL_ENDS:
                ended_ids.append(due.lease_id)
                state, reason = POLL_ENDS[result.status]
                counts[state] += _end(due.lease_id, state, actor, reason, release=True)
            else:
                ended_ids.append(due.lease_id)
                counts["failed"] += _end(
                    due.lease_id,
                    LeaseState.FAILED,
                    actor,
                    EndReason.STATUS,
                    {"s": result.msg or str(result.status)},
                    release=True,
                )
        if waiting_ids or ended_ids:
            touch(
                Lease.objects.filter(pk__in=waiting_ids + ended_ids),
                polls=F("polls") + 1,
                last_polled_at=now,
            )
        Tally.bump({**call_tallies(audit_rows), "polls": len(results), "codes": counts["received"]})
    counts["polled"] = len(results)
    return counts


def _receive(lease_id: int, text: str, actor: str, now: datetime) -> bool:
    """Store an SMS the poll answered, once. ``sms/get.php`` answers the latest SMS on every
    poll until a newer one arrives, so an SMS this lease already holds is the repeat, not a new
    message: the lease stays waiting (after *keep waiting*) until a different text comes.
    Returns whether a new SMS was stored."""
    lease = Lease.objects.select_related("item").filter(pk=lease_id).first()
    if lease is None:
        return False
    item = lease.item
    ranked = codes.candidates(text, alphanumeric=item.code_alphanumeric, regex=item.code_regex)
    code = ranked[0].code if ranked else ""
    digest = hashlib.sha256(text.encode()).hexdigest()
    message, created = Message.objects.get_or_create(
        lease_id=lease_id,
        direction=Message.Direction.RECEIVED,
        digest=digest,
        defaults={
            "text": text,
            "status": SendStatus.RECEIVED,
            "code": code,
            "candidates": [c.code for c in ranked[:8]],
            "created_at": now,
        },
    )
    if not created:
        return False
    moved = transition(
        Lease.objects.waiting().filter(pk=lease_id),
        LeaseState.RECEIVED,
        actor=actor,
        event_kind=EventKind.RECEIVED,
        detail=code,
        now=now,
        code=code,
        received_at=now,
        polls=F("polls") + 1,
        last_polled_at=now,
        wait_deadline=now + timedelta(seconds=item.wait_limit_seconds),
    )
    if not moved:  # released meanwhile: the SMS is kept and shown all the same
        event(lease_id, EventKind.RECEIVED, actor, code).save()
    signals.send_on_commit(signals.message_received, lease_id=lease_id, message_id=message.pk)
    log.info("SMS received, code %s", code or "-", extra={"lease_id": lease_id})
    return True


def _end(
    lease_id: int,
    state: str,
    actor: str,
    reason: EndReason,
    params: dict[str, Any] | None = None,
    *,
    release: bool = False,
    from_states: Iterable[str] = ACTIVE_STATES,
) -> int:
    """End a lease. With ``release`` the number is still held upstream: the lease is queued
    for release (see ``queue_release``) and finishes in ``state`` once released."""
    leases = Lease.objects.filter(pk=lease_id, state__in=from_states)
    if release:
        return queue_release(leases, state, reason, params)
    return len(transition(leases, state, actor=actor, reason=reason, params=params))
