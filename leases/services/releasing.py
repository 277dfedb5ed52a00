"""Releasing numbers: queued claims, one release call per item, the automatic sweep and the
upstream's release all."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.clients import CallContext, client_for
from accounts.models import DeveloperAccount, Role, Tally
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from ..errors import upstream_error
from ..models import ACTIVE_STATES, HELD_STATES, Lease, LeaseEvent, LeaseState
from ..rules import NOT_LEASED, in_flight, poll_interval
from ..webhooks import LEASE_ENDED, emit
from .events import event

log = logging.getLogger(__name__)

#
# A lease to release moves to ``releasing``, ``end_reason`` holding its final state, a short
# kind for the metrics and the reason ("expired|wait_limit|no SMS within…"), ``next_poll_at``
# the time of its next attempt. ``release_due`` claims due rows (pushing that time past any
# call's timeout, so a worker dying mid-call leaves them to be retried), makes one release
# call per item and finishes them. A repeated release is harmless: "not leased" is done.


def queue_release(queryset, final_state: str, reason: str, kind: str = "user") -> int:
    return queryset.update(
        state=LeaseState.RELEASING,
        end_reason=f"{final_state}|{kind}|{reason}"[:200],
        next_poll_at=timezone.now(),
        version=F("version") + 1,
    )


def _split_reason(end_reason: str) -> tuple[str, str, str]:
    """``state|kind|reason`` → its parts; anything else (a claim left by a blacklisting that
    died mid-way) finishes as released."""
    parts = end_reason.split("|", 2)
    if len(parts) != 3 or parts[0] not in (
        LeaseState.RELEASED,
        LeaseState.EXPIRED,
        LeaseState.FAILED,
    ):
        return LeaseState.RELEASED, "recovered", parts[-1]
    return parts[0], parts[1], parts[2]


def release_due(ctx: CallContext, ids=None, limit: int = 500) -> dict[str, int]:
    """Release every queued lease that is due (or only ``ids``); returns counts."""
    now = timezone.now()
    with transaction.atomic():
        qs = Lease.objects.filter(state=LeaseState.RELEASING, next_poll_at__lte=now)
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("item", "account").order_by("next_poll_at")[:limit])
        Lease.objects.filter(pk__in=[r.pk for r in rows]).update(next_poll_at=now + in_flight())
    groups: dict[tuple[int, str], list[Lease]] = defaultdict(list)
    for lease in rows:
        groups[(lease.account_id, lease.item.item_id)].append(lease)
    counts = defaultdict(int)
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
        except UpstreamRefusal as exc:
            if not NOT_LEASED.search(exc.msg):
                _retry(leases, counts)
                continue
            note = f" ({exc.msg})"
        except UpstreamError:
            _retry(leases, counts)
            continue
        for lease in leases:
            state, kind, reason = _split_reason(lease.end_reason)
            done = Lease.objects.filter(pk=lease.pk, state=LeaseState.RELEASING).update(
                state=state,
                end_reason=(reason + note)[:200],
                ended_at=timezone.now(),
                next_poll_at=None,
                version=F("version") + 1,
            )
            if done:
                emit(LEASE_ENDED, lease.pk)
                event(lease.pk, state, ctx.actor, reason + note).save()
                counts[state] += 1
                counts[f"released|{kind}"] += 1
                log.info("%s (%s): %s", state, kind, reason + note, extra={"lease_id": lease.pk})
    Tally.bump({k: v for k, v in counts.items() if k.startswith("released|")})
    return counts


def _retry(leases, counts) -> None:
    Lease.objects.filter(pk__in=[x.pk for x in leases], state=LeaseState.RELEASING).update(
        next_poll_at=timezone.now() + poll_interval()
    )
    counts["retry"] += len(leases)


def release(user, leases, reason: str | None = None) -> dict[str, int]:
    """Release leases the user chose (operator on each account), one call per item."""
    ids = []
    for lease in leases:
        permissions.require(user, lease.account_id, Role.OPERATOR)
        ids.append(lease.pk)
    reason = reason or _("released by %(user)s") % {"user": user.get_username()}
    queued = queue_release(
        Lease.objects.filter(pk__in=ids, state__in=ACTIVE_STATES), LeaseState.RELEASED, reason
    )
    counts = release_due(CallContext.for_user(user), ids=ids)
    counts["queued"] = queued
    return counts


def sweep(ctx: CallContext) -> dict[str, int]:
    """Queue what must be released automatically, then release what is due.

    1. Received, for items released when the code arrives (types 1 and 2; items that can
       send or receive several SMS keep the number for the user).
    2. Past the wait limit: waiting → expired; received → released.
    3. Past the release deadline, always before the upstream's 30-minute forced release.
    """
    now = timezone.now()
    base = Lease.objects.filter(state__in=ACTIVE_STATES)
    queue_release(
        base.filter(
            state=LeaseState.RECEIVED, item__release_after_code=True, item__type__in=["1", "2"]
        ),
        LeaseState.RELEASED,
        _("code received"),
        "code",
    )
    queue_release(
        base.filter(release_deadline__lte=now),
        LeaseState.RELEASED,
        _("released before the upstream's forced release"),
        "deadline",
    )
    queue_release(
        base.filter(state=LeaseState.WAITING, wait_deadline__lte=now),
        LeaseState.EXPIRED,
        _("no SMS within the item's wait limit"),
        "wait_limit",
    )
    queue_release(
        base.filter(state=LeaseState.RECEIVED, wait_deadline__lte=now),
        LeaseState.RELEASED,
        _("held for the item's wait limit after the last SMS"),
        "held",
    )
    return release_due(ctx)


def release_all(user, account: DeveloperAccount) -> int:
    """The upstream's release all (managers), then every local lease of the account ends."""
    permissions.require(user, account.pk, Role.MANAGER)
    ctx = CallContext.for_user(user)
    try:
        client_for(account).release_all(context=ctx)
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    now = timezone.now()
    ids = list(
        Lease.objects.filter(account=account, state__in=HELD_STATES).values_list("pk", flat=True)
    )
    reason = _("release all by %(user)s") % {"user": user.get_username()}
    Lease.objects.filter(pk__in=ids, state__in=HELD_STATES).update(
        state=LeaseState.RELEASED,
        end_reason=reason,
        ended_at=now,
        next_poll_at=None,
        version=F("version") + 1,
    )
    LeaseEvent.objects.bulk_create([event(i, LeaseState.RELEASED, ctx.actor, reason) for i in ids])
    emit(LEASE_ENDED, ids)
    return len(ids)
