"""Releasing numbers: queued claims, one release call per item, the automatic sweep and the
upstream's release all."""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import permissions
from accounts.audit import CallContext
from accounts.models import DeveloperAccount, Role, Tally
from accounts.registry import client_for
from accounts.upstream.errors import NotLeased, UpstreamError

from ..choices import RELEASE_TARGETS, EndReason
from ..errors import NotHeld, ReleasePending, upstream_error
from ..models import Lease, LeaseState
from ..timing import in_flight, poll_interval
from .transitions import transition

log = logging.getLogger(__name__)

#
# A lease to release moves to ``releasing`` with its intent in its fields: ``end_state`` the
# state it finishes in, ``end_reason`` and ``end_params`` why (the reason's code also names
# the metric), ``next_poll_at`` the time of its next attempt. ``release_due`` claims due rows
# (pushing that time past any call's timeout, so a worker dying mid-call leaves them to be
# retried), makes one release call per item and finishes them. A repeated release is
# harmless: "not leased" is done.


def queue_release(
    queryset: QuerySet[Lease],
    final_state: str,
    reason: EndReason,
    params: dict[str, Any] | None = None,
) -> int:
    """Queue ``queryset`` (narrowed to the states a release may start from) for release."""
    return len(
        transition(
            queryset,
            LeaseState.RELEASING,
            reason=reason,
            params=params,
            end_state=final_state,
            next_poll_at=timezone.now(),
        )
    )


def release_intent(lease: Lease) -> tuple[str, EndReason, dict[str, Any]]:
    """The state, reason and parameters a queued release finishes with. A claim left by a
    blacklisting that died mid-way (or any odd intent) finishes as released, "recovered"."""
    if lease.end_state in RELEASE_TARGETS and lease.end_reason in EndReason.values:
        return lease.end_state, EndReason(lease.end_reason), dict(lease.end_params)
    return LeaseState.RELEASED, EndReason.RECOVERED, {}


def release_due(
    ctx: CallContext, ids: Iterable[int] | None = None, limit: int = 500
) -> dict[str, int]:
    """Release every queued lease that is due (or only ``ids``); returns counts."""
    now = timezone.now()
    with transaction.atomic():
        qs = Lease.objects.releasing_due(now)
        features = transaction.get_connection().features
        if ids is not None:
            # A person's own release waits out a moment's lock (another click checking the
            # same row) instead of skipping past it and leaving the number to the next sweep;
            # PostgreSQL then re-checks the row, so one claimed meanwhile is not due any more.
            qs = qs.filter(pk__in=list(ids)).order_by("pk")
            if features.has_select_for_update:
                qs = qs.select_for_update(of=("self",))
        else:  # the sweep: workers share the due rows, none waits for another's
            qs = qs.order_by("next_poll_at")
            if features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("item", "account")[:limit])
        Lease.objects.filter(pk__in=[r.pk for r in rows]).update(next_poll_at=now + in_flight())
    return _release_claimed(ctx, rows)


def _release_claimed(ctx: CallContext, rows: list[Lease]) -> dict[str, int]:
    """One release call per item for ``rows`` (claimed: ``next_poll_at`` past any call's
    timeout), then each finished as its intent says; returns counts."""
    groups: dict[tuple[int, str], list[Lease]] = defaultdict(list)
    for lease in rows:
        groups[(lease.account_id, lease.item.item_id)].append(lease)
    counts: defaultdict[str, int] = defaultdict(int)
    for (_account, item_id), leases in groups.items():
        one = leases[0] if len(leases) == 1 else None
        call_ctx = CallContext(
            ctx.actor, ctx.user_id, one.pk if one else None, one.phone if one else ""
        )
        try:
            client_for(leases[0].account).release(
                [x.phone for x in leases], item_id, context=call_ctx
            )
            note = ""
        except NotLeased as exc:
            note = exc.msg
        except UpstreamError:
            _retry(leases, counts)
            continue
        for lease in leases:
            state, reason, params = release_intent(lease)
            if note:
                params["note"] = note
            done = transition(
                Lease.objects.releasing().filter(pk=lease.pk),
                state,
                actor=ctx.actor,
                reason=reason,
                params=params,
                look_first=False,
            )
            if done:
                counts[state] += 1
                counts[f"released|{reason.metric_kind}"] += 1
                log.info(
                    "%s (%s)%s",
                    state,
                    reason.value,
                    f": {note}" if note else "",
                    extra={"lease_id": lease.pk},
                )
    Tally.bump({k: v for k, v in counts.items() if k.startswith("released|")})
    return counts


def _retry(leases: list[Lease], counts: defaultdict[str, int]) -> None:
    Lease.objects.releasing().filter(pk__in=[x.pk for x in leases]).update(
        next_poll_at=timezone.now() + poll_interval()
    )
    counts["retry"] += len(leases)


def release(
    user: permissions.Actor, leases: Iterable[Lease], reason: EndReason = EndReason.USER
) -> dict[str, int]:
    """Release leases the user chose (operator on each account), one call per item."""
    leases = list(leases)
    for account_id in dict.fromkeys(lease.account_id for lease in leases):
        permissions.require(user, account_id, Role.OPERATOR)
    ids = [lease.pk for lease in leases]
    ctx = CallContext.for_user(user)
    params = {"user": user.get_username()}
    # Queued and claimed in one step: no worker takes them while this call releases them.
    claimed = transition(
        Lease.objects.active().filter(pk__in=ids),
        LeaseState.RELEASING,
        reason=reason,
        params=params,
        end_state=LeaseState.RELEASED,
        next_poll_at=timezone.now() + in_flight(),
        look_first=False,
    )
    rows = _as_claimed(leases, claimed, reason, params)
    counts = defaultdict(int, _release_claimed(ctx, rows) if claimed else {})
    if rest := set(ids) - set(claimed):  # already queued: released now if they are due
        for key, n in release_due(ctx, ids=rest).items():
            counts[key] += n
    counts["queued"] = len(claimed)
    return counts


def _as_claimed(
    leases: list[Lease], claimed: list[int], reason: EndReason, params: dict[str, Any]
) -> list[Lease]:
    """The claimed leases as ``release`` claimed them, with their item and account: copies of
    the caller's rows when they carry both (the caller's own are left as they were), else
    read again."""
    wanted = set(claimed)
    chosen = [lease for lease in leases if lease.pk in wanted]
    if len(chosen) != len(claimed) or not all(
        Lease.item.is_cached(x) and Lease.account.is_cached(x) for x in chosen
    ):
        again = Lease.objects.filter(pk__in=claimed).select_related("item", "account")
        return list(again.order_by("pk"))
    rows = []
    for lease in sorted(chosen, key=lambda x: x.pk):
        row = copy.copy(lease)
        row.state, row.end_state = LeaseState.RELEASING, LeaseState.RELEASED
        row.end_reason, row.end_params = reason, dict(params)
        rows.append(row)
    return rows


def release_one(user: permissions.Actor, lease: Lease) -> None:
    """Release one lease the user chose (the lease page, the API). Raises ``ReleasePending``
    when the upstream did not confirm it (it is retried), ``NotHeld`` when it had ended."""
    counts = release(user, [lease])
    if counts.get("retry"):
        raise ReleasePending
    if not counts.get("queued"):
        raise NotHeld


def sweep(ctx: CallContext) -> dict[str, int]:
    """Queue what must be released automatically, then release what is due.

    1. Received, for items released when the code arrives (``ItemType.release_after_code``:
       types 1 and 2; items that can send keep the number for the user).
    2. Past the release deadline, always before the upstream's 30-minute forced release.
    3. Past the wait limit: waiting → expired; received → released.
    """
    now = timezone.now()
    leases = Lease.objects
    # Each claim is its own short transaction: none holds row locks while the next one looks.
    queue_release(leases.done_with_code(), LeaseState.RELEASED, EndReason.CODE)
    queue_release(leases.past_deadline(now), LeaseState.RELEASED, EndReason.DEADLINE)
    silent, held = leases.past_wait_limit(now).waiting(), leases.past_wait_limit(now).received()
    queue_release(silent, LeaseState.EXPIRED, EndReason.WAIT_LIMIT)
    queue_release(held, LeaseState.RELEASED, EndReason.HELD)
    return release_due(ctx)


def release_all(user: permissions.Actor, account: DeveloperAccount) -> int:
    """The upstream's release all (managers), then every local lease of the account ends."""
    permissions.require(user, account.pk, Role.MANAGER)
    ctx = CallContext.for_user(user)
    try:
        client_for(account).release_all(context=ctx)
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    ended = transition(
        Lease.objects.held().filter(account=account),
        LeaseState.RELEASED,
        actor=ctx.actor,
        reason=EndReason.RELEASE_ALL,
        params={"user": user.get_username()},
    )
    return len(ended)
