"""The one way a lease changes state.

``transition`` takes the leases to move as a queryset already narrowed to the states the change
starts from — the claim — locks them (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE
transaction serialises writers), and in the same transaction moves them, bumps their
``version`` (the lease page's "something changed"), stamps the end of a final state and writes
the timeline event. It returns the ids that moved: a caller acts only on those, so two workers,
a redelivered task or two clicks never act twice on one lease.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .. import signals
from ..choices import FINAL_STATES, LeaseState
from ..models import Lease, LeaseEvent
from .events import event


def transition(
    leases: QuerySet[Lease],
    to: LeaseState | str,
    *,
    actor: str = "",
    event_kind: str | None = None,
    detail: str = "",
    reason: str | None = None,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
    look_first: bool = True,
    **fields: Any,
) -> list[int]:
    """Move ``leases`` to ``to``; returns the ids that moved.

    ``reason`` and ``params`` are the end reason (a code and its parameters) — stored on the
    lease and on its event. A final state ends the lease (``ended_at``, no next poll) and writes
    an event named after it; other changes write ``event_kind`` when given. ``fields`` are
    further columns to set in the same statement. ``look_first=False``: the leases were named
    (a person's action, a claimed release) and are expected to move; no plain read first.
    """
    now = now or timezone.now()
    values: dict[str, Any] = {"state": to, "version": F("version") + 1, **fields}
    if reason is not None:
        values.update(end_reason=reason, end_params=params or {})
    if to in FINAL_STATES:
        values.setdefault("ended_at", now)
        values.setdefault("next_poll_at", None)
        values.setdefault("end_state", to)
        event_kind = event_kind or to
    # A plain read first: most calls (the sweep's, every second) find nothing to move and
    # then cost one query, no transaction. What it found is claimed again under the lock.
    if look_first:
        seen = list(leases.order_by().values_list("pk", flat=True))
        if not seen:
            return []
        leases = leases.filter(pk__in=seen)
    with transaction.atomic(savepoint=False):
        qs = leases.order_by("pk")
        if transaction.get_connection().features.has_select_for_update:
            qs = qs.select_for_update(of=("self",))
        ids = list(qs.values_list("pk", flat=True))
        if not ids:
            return []
        Lease.objects.filter(pk__in=ids).update(**values)
        if event_kind:
            LeaseEvent.objects.bulk_create(
                [event(i, event_kind, actor, detail, reason or "", params) for i in ids]
            )
    if to in FINAL_STATES:  # every end of a lease passes here
        for i in ids:
            signals.send_on_commit(signals.lease_ended, lease_id=i, state=str(to))
    return ids


def touch(leases: QuerySet[Lease], **fields: Any) -> int:
    """A change that is not a transition (a poll counted, a delivery status): the version is
    bumped all the same, so an open lease page refreshes."""
    return leases.update(version=F("version") + 1, **fields)
