"""Polling: claims and results (the loop that drives them is in ``leases/poller.py``)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.clients import call_tallies, lateness_tallies, write_calls
from accounts.models import Tally
from accounts.upstream import wire
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from .. import codes
from ..models import ACTIVE_STATES, Lease, LeaseState, Message
from ..rules import NOT_LEASED, POLL_ENDS, Due, poll_interval
from ..webhooks import CODE_RECEIVED, LEASE_ENDED, emit
from .events import event
from .releasing import queue_release

log = logging.getLogger(__name__)


def claim_due(limit: int, now=None) -> list[Due]:
    """Claim up to ``limit`` waiting leases whose poll is due, moving their next poll one
    interval ahead. On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent pollers
    take disjoint sets; on SQLite the IMMEDIATE transaction serialises the claim."""
    now = now or timezone.now()
    with transaction.atomic():
        qs = Lease.objects.filter(state=LeaseState.WAITING, next_poll_at__lte=now)
        qs = qs.order_by("next_poll_at")
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
    results: list[tuple[Due, wire.SmsResult | UpstreamError]], actor: str, audit_rows: list
) -> dict[str, int]:
    """Write a batch of poll answers: one UPDATE for the many still waiting, one transaction
    for all, and the batch's audit rows completed in one statement."""
    now = timezone.now()
    counts = defaultdict(int)
    waiting_ids = []
    with transaction.atomic():
        write_calls(audit_rows)
        for due, result in results:
            if isinstance(result, UpstreamRefusal) and NOT_LEASED.search(result.msg):
                counts["gone"] += _end(
                    due.lease_id,
                    LeaseState.EXPIRED,
                    actor,
                    _("released upstream: %(msg)s") % {"msg": result.msg},
                    from_states=(LeaseState.WAITING,),
                )
            elif isinstance(result, UpstreamError):
                log.warning("poll failed: %s", result, extra={"lease_id": due.lease_id})
                counts["error"] += 1
                waiting_ids.append(due.lease_id)
            elif result.status == 1:
                waiting_ids.append(due.lease_id)
            elif result.status == 2 and result.sm:
                counts["received"] += _receive(due.lease_id, result.sm, actor, now)
            elif result.status in POLL_ENDS:
                state, reason, kind = POLL_ENDS[result.status]
                counts[state] += _end(
                    due.lease_id, state, actor, _(reason), release=True, kind=kind
                )
            else:
                detail = result.msg or str(result.status)
                counts["failed"] += _end(
                    due.lease_id,
                    LeaseState.FAILED,
                    actor,
                    _("upstream status %(s)s") % {"s": detail},
                    release=True,
                )
        if waiting_ids:
            Lease.objects.filter(pk__in=waiting_ids).update(
                polls=F("polls") + 1, last_polled_at=now, version=F("version") + 1
            )
        Tally.bump({**call_tallies(audit_rows), "polls": len(results), "codes": counts["received"]})
    counts["polled"] = len(results)
    return counts


def _receive(lease_id: int, text: str, actor: str, now) -> int:
    lease = Lease.objects.select_related("item").filter(pk=lease_id).first()
    if lease is None:
        return 0
    item = lease.item
    ranked = codes.candidates(text, alphanumeric=item.code_alphanumeric, regex=item.code_regex)
    code = ranked[0].code if ranked else ""
    digest = hashlib.sha256(text.encode()).hexdigest()
    _, created = Message.objects.get_or_create(
        lease_id=lease_id,
        direction=Message.Direction.RECEIVED,
        digest=digest,
        defaults={
            "text": text,
            "status": "2",
            "code": code,
            "candidates": [c.code for c in ranked[:8]],
            "created_at": now,
        },
    )
    changed = Lease.objects.filter(pk=lease_id, state=LeaseState.WAITING).update(
        state=LeaseState.RECEIVED,
        code=code,
        received_at=now,
        polls=F("polls") + 1,
        last_polled_at=now,
        version=F("version") + 1,
    )
    if changed:
        wait = timedelta(seconds=item.wait_limit_seconds)
        Lease.objects.filter(pk=lease_id).update(wait_deadline=now + wait)
    if created:
        emit(CODE_RECEIVED, lease_id, digest=digest)
        event(lease_id, "received", actor, code).save()
        log.info("SMS received, code %s", code or "-", extra={"lease_id": lease_id})
    return int(created)


def _end(
    lease_id: int,
    state: str,
    actor: str,
    reason: str,
    *,
    release: bool = False,
    kind: str = "status",
    from_states=ACTIVE_STATES,
) -> int:
    """End a lease. With ``release`` the number is still held upstream: the lease is queued
    for release (see ``queue_release``) and finishes in ``state`` once released."""
    now = timezone.now()
    if release:
        changed = queue_release(
            Lease.objects.filter(pk=lease_id, state__in=from_states), state, reason, kind
        )
    else:
        changed = Lease.objects.filter(pk=lease_id, state__in=from_states).update(
            state=state,
            end_reason=reason[:200],
            ended_at=now,
            version=F("version") + 1,
        )
        if changed:
            emit(LEASE_ENDED, lease_id)
            event(lease_id, state, actor, reason).save()
    return changed
