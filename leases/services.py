"""Every change of lease state happens here: lease, poll, release, blacklist, send, release all.

Transitions are conditional updates — ``filter(pk=…, state=old).update(state=new)`` — and the
caller goes on only when exactly one row changed: two workers, a redelivered task or two clicks
never act twice on one lease. Upstream calls are made *after* the claim and outside any
database transaction, so no lock is held while waiting on the network.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.clients import (
    CallContext,
    call_tallies,
    client_for,
    lateness_tallies,
    write_calls,
)
from accounts.models import DeveloperAccount, Role, Tally
from accounts.upstream import wire
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from . import codes
from .models import (
    ACTIVE_STATES,
    HELD_STATES,
    Item,
    Lease,
    LeaseEvent,
    LeaseRequest,
    LeaseState,
    Message,
)
from .rules import (
    _AMBIGUOUS,
    NOT_LEASED,
    POLL_ENDS,
    AmbiguousLease,
    Due,
    ServiceError,
    check_budget,
    check_not_reconciling,
    estimate_costs,
    in_flight,
    poll_interval,
    upstream_error,
)

log = logging.getLogger(__name__)


def _event(lease_id: int, kind: str, actor: str = "", detail: str = "") -> LeaseEvent:
    return LeaseEvent(lease_id=lease_id, kind=kind, actor=actor[:150], detail=detail[:300])


def lease_numbers(
    user,
    item: Item,
    *,
    key: str,
    quantity: int = 1,
    carrier: str = "",
    area_code: str = "",
    international: bool = False,
    phone: str = "",
) -> LeaseRequest:
    """Lease numbers once per ``key``: a repeated key returns the first request's row.

    Steps: 1. gate (operator), 2. item and quantity checks, 3. record the request under its
    key (a duplicate stops here), 4. budget, 5. one get-numbers call — never repeated after an
    ambiguous failure — 6. one ``Lease`` per number.
    """
    membership = permissions.require(user, item.account_id, Role.OPERATOR)
    account = item.account
    if not account.active:
        raise ServiceError(_("This developer account is inactive."))
    if not item.usable:
        raise ServiceError(
            item.msg or _("This item is not available (status %(s)s).") % {"s": item.status}
        )
    if not 1 <= quantity <= item.max_per_request:
        raise ServiceError(
            _("This item allows 1 to %(n)s numbers per request.") % {"n": item.max_per_request}
        )
    if phone:
        quantity = 1
    params = {
        "carrier": carrier,
        "area_code": area_code,
        "international": international,
        "phone": phone,
    }
    try:
        with transaction.atomic():
            req = LeaseRequest.objects.create(
                key=key,
                account=account,
                item=item,
                user_id=user.pk,
                quantity=quantity,
                params=params,
            )
    except IntegrityError:
        return LeaseRequest.objects.get(key=key)
    costs = estimate_costs(item, quantity)
    try:
        check_budget(membership, user, costs)
        check_not_reconciling(account.pk)  # after recording the request: see leases.reconcile
    except ServiceError as exc:
        _finish_request(req, LeaseRequest.Outcome.REFUSED, str(exc))
        raise
    ctx = CallContext.for_user(user, lease_request_id=req.pk)
    try:
        numbers = client_for(account).get_numbers(
            item.item_id,
            quantity,
            phone_no=phone,
            area_code=area_code,
            international=international,
            carrier=carrier,
            context=ctx,
        )
    except UpstreamRefusal as exc:
        _finish_request(req, LeaseRequest.Outcome.REFUSED, exc.msg)
        raise ServiceError(exc.msg) from None
    except UpstreamError as exc:
        # Only the lease call itself can have leased numbers (a failed verification before it
        # sent nothing), and only when it may have reached the upstream: a late, dropped or
        # unreadable answer.
        if exc.endpoint == "get_numbers" and getattr(exc, "ambiguous", True):
            _finish_request(req, LeaseRequest.Outcome.AMBIGUOUS, str(exc))
            raise AmbiguousLease(_(_AMBIGUOUS)) from None
        _finish_request(req, LeaseRequest.Outcome.FAILED, str(exc))
        raise upstream_error(exc) from None
    now = timezone.now()
    wait = timedelta(seconds=item.wait_limit_seconds)
    costs = costs + [costs[-1] if costs else Decimal(0)] * max(0, len(numbers) - len(costs))
    leases = Lease.objects.bulk_create(
        [
            Lease(
                account=account,
                item=item,
                request=req,
                phone=number,
                user_id=user.pk,
                leased_at=now,
                next_poll_at=now + poll_interval(),
                wait_deadline=now + wait,
                release_deadline=Lease.deadline_from(now),
                cost=cost,
            )
            for number, cost in zip(numbers, costs, strict=False)
        ]
    )
    if not all(lease.pk for lease in leases):  # backends without RETURNING on bulk insert
        leases = list(Lease.objects.filter(request=req))
    LeaseEvent.objects.bulk_create(
        [_event(lease.pk, "leased", ctx.actor, f"{item.item_id}") for lease in leases]
    )
    _finish_request(req, LeaseRequest.Outcome.DONE, ",".join(numbers))
    return req


def _finish_request(req: LeaseRequest, outcome: str, msg: str) -> None:
    now = timezone.now()
    LeaseRequest.objects.filter(pk=req.pk).update(outcome=outcome, msg=msg[:2000], finished_at=now)
    req.outcome, req.msg, req.finished_at = outcome, msg, now


# ---------------------------------------------------------------------------------------------
# Polling: claims and results (the loop that drives them is in leases/poller.py)


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
        _event(lease_id, "received", actor, code).save()
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
            _event(lease_id, state, actor, reason).save()
    return changed


# ---------------------------------------------------------------------------------------------
# Releasing
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
                _event(lease.pk, state, ctx.actor, reason + note).save()
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
    LeaseEvent.objects.bulk_create([_event(i, LeaseState.RELEASED, ctx.actor, reason) for i in ids])
    return len(ids)


# ---------------------------------------------------------------------------------------------
# Actions on one lease


def blacklist(user, lease: Lease) -> None:
    permissions.require(user, lease.account_id, Role.OPERATOR)
    before = lease.state
    claimed = before in ACTIVE_STATES and Lease.objects.filter(pk=lease.pk, state=before).update(
        state=LeaseState.RELEASING,
        end_reason="blocking",
        next_poll_at=timezone.now() + in_flight(),
        version=F("version") + 1,
    )
    if not claimed:
        raise ServiceError(_("This number is no longer held."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        client_for(lease.account).block(lease.item.item_id, lease.phone, context=ctx)
    except UpstreamError as exc:
        if isinstance(exc, UpstreamRefusal) and NOT_LEASED.search(exc.msg):
            _finish(
                lease.pk,
                LeaseState.EXPIRED,
                ctx.actor,
                _("released upstream: %(msg)s") % {"msg": exc.msg},
            )
        else:
            Lease.objects.filter(pk=lease.pk, state=LeaseState.RELEASING).update(
                state=before, end_reason="", next_poll_at=timezone.now(), version=F("version") + 1
            )
        raise upstream_error(exc) from None
    _finish(
        lease.pk,
        LeaseState.BLOCKED,
        ctx.actor,
        _("blacklisted by %(user)s") % {"user": user.get_username()},
    )


def _finish(lease_id: int, state: str, actor: str, reason: str) -> None:
    Lease.objects.filter(pk=lease_id, state=LeaseState.RELEASING).update(
        state=state,
        end_reason=reason[:200],
        ended_at=timezone.now(),
        next_poll_at=None,
        version=F("version") + 1,
    )
    _event(lease_id, state, actor, reason).save()


def keep_waiting(user, lease: Lease) -> None:
    """Several-SMS items: go back to waiting for the next SMS."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    if not lease.item.several_sms:
        raise ServiceError(_("This item receives a single SMS."))
    now = timezone.now()
    changed = Lease.objects.filter(pk=lease.pk, state=LeaseState.RECEIVED).update(
        state=LeaseState.WAITING,
        next_poll_at=now,
        version=F("version") + 1,
        wait_deadline=now + timedelta(seconds=lease.item.wait_limit_seconds),
    )
    if not changed:
        raise ServiceError(_("Only a number that has received an SMS can wait for another."))
    _event(lease.pk, "waiting", user.get_username(), _("waiting for another SMS")).save()


def send_sms(user, lease: Lease, text: str) -> Message:
    permissions.require(user, lease.account_id, Role.OPERATOR)
    item = lease.item
    text = (text or "").strip()
    if not item.can_send:
        raise ServiceError(_("This item cannot send SMS (type %(t)s).") % {"t": item.type})
    if not text:
        raise ServiceError(_("The SMS text must not be empty."))
    if lease.state not in ACTIVE_STATES:
        raise ServiceError(_("This number is no longer held."))
    sent = lease.messages.filter(direction=Message.Direction.SENT)
    if not item.sends_several and sent.exists():
        raise ServiceError(_("This item can send one SMS only."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        client_for(lease.account).send_sms(item.item_id, lease.phone, text, context=ctx)
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    digest = hashlib.sha256(f"{timezone.now().isoformat()}{text}".encode()).hexdigest()
    msg = Message.objects.create(
        lease=lease, direction=Message.Direction.SENT, text=text, digest=digest, status="sent"
    )
    Lease.objects.filter(pk=lease.pk).update(version=F("version") + 1)
    _event(lease.pk, "sent", ctx.actor, text[:100]).save()
    return msg


def send_status(user, lease: Lease) -> str:
    """Ask the upstream whether the last sent SMS was delivered; returns its answer."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    last = lease.messages.filter(direction=Message.Direction.SENT).last()
    if last is None:
        raise ServiceError(_("Nothing was sent from this number."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        answer = client_for(lease.account).send_status(lease.item.item_id, lease.phone, context=ctx)
        status = "delivered"
    except UpstreamRefusal as exc:
        answer, status = exc.msg, exc.msg[:40]
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    Message.objects.filter(pk=last.pk).update(status=status)
    Lease.objects.filter(pk=lease.pk).update(version=F("version") + 1)
    return answer
