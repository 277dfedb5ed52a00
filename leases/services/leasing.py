"""Leasing numbers: one get-numbers call per request key, never repeated after an ambiguous
failure (the money rule); one ``Lease`` per number it returned."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions, quota
from accounts.audit import CallContext
from accounts.models import ApiCall, DeveloperAccount, Membership, Role
from accounts.registry import client_for
from accounts.upstream.errors import UpstreamError, UpstreamRefusal

from ..errors import ServiceError, lease_may_have_happened, upstream_error
from ..estimates import check_budget, estimate_costs
from ..models import Item, Lease, LeaseEvent, LeaseRequest
from ..timing import first_poll, reconcile_hold
from .events import event


def check_not_reconciling(account_id: int) -> None:
    """Refuse a lease while the console releases all on the account (``leases.reconcile``)."""
    since = timezone.now() - reconcile_hold()
    if DeveloperAccount.objects.filter(pk=account_id, reconciling_since__gte=since).exists():
        raise ServiceError(
            _(
                "The console is releasing this account's numbers after an unclear lease "
                "answer. Try again in a few seconds."
            )
        )


def lease_numbers(
    user: permissions.Actor,
    item: Item,
    *,
    key: str,
    quantity: int = 1,
    carrier: str = "",
    area_code: str = "",
    international: bool = False,
    phone: str = "",
    tag: str = "",
) -> LeaseRequest:
    """Lease numbers once per ``key``: a repeated key returns the first request's row.

    Steps: 1. gate (operator), 2. item and quantity checks, 3. record the request under its
    key (a duplicate stops here), 4. budget: the worst case reserved under the member's lock,
    5. one get-numbers call — never repeated after an ambiguous failure — 6. one ``Lease`` per
    number, which takes over the reservation (an ambiguous request keeps it).
    """
    membership = permissions.require(user, item.account_id, Role.OPERATOR)
    account = item.account
    if not account.active:
        raise ServiceError(_("This developer account is inactive."))
    if item.retired_at is not None:
        raise ServiceError(_("This item was retired: it is kept for the history only."))
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
                tag=tag,
                token=getattr(user, "api_token", None),
            )
    except IntegrityError:
        return LeaseRequest.objects.get(key=key)
    costs = estimate_costs(item, quantity)
    try:
        _reserve(membership, user, req, costs)
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
        raise upstream_error(exc, lease=True) from None
    except UpstreamError as exc:
        # Only the lease call itself can have leased numbers (a failed verification before it
        # sent nothing), and only when it may have reached the upstream: a late, dropped or
        # unreadable answer. The error's text says which (an ``AmbiguousLease`` then).
        if lease_may_have_happened(exc):
            _finish_request(req, LeaseRequest.Outcome.AMBIGUOUS, str(exc))
        else:
            _finish_request(req, LeaseRequest.Outcome.FAILED, str(exc))
        raise upstream_error(exc, lease=True) from None
    finally:
        # The quota changed, or may have: a worker re-reads it (at most every 30 s).
        quota.refresh_soon(account.pk)
    costs = costs + [costs[-1] if costs else Decimal(0)] * max(0, len(numbers) - len(costs))
    with transaction.atomic():  # the leases carry the cost the reservation held
        _record_leases(req, ctx, numbers, costs)
    return req


def _record_leases(
    req: LeaseRequest, ctx: CallContext, numbers: list[str], costs: list[Decimal]
) -> None:
    item, account, user_id = req.item, req.account, req.user_id
    now = timezone.now()
    wait = timedelta(seconds=item.wait_limit_seconds)
    leases = Lease.objects.bulk_create(
        [
            Lease(
                account=account,
                item=item,
                request=req,
                phone=number,
                user_id=user_id,
                leased_at=now,
                next_poll_at=now + first_poll(),
                wait_deadline=now + wait,
                release_deadline=Lease.deadline_from(now),
                cost=cost,
                tag=req.tag,
                token_id=req.token_id,
            )
            for number, cost in zip(numbers, costs, strict=False)
        ]
    )
    if not all(lease.pk for lease in leases):  # backends without RETURNING on bulk insert
        leases = list(Lease.objects.filter(request=req))
    LeaseEvent.objects.bulk_create(
        [event(lease.pk, "leased", ctx.actor, f"{item.item_id}") for lease in leases]
    )
    _finish_request(req, LeaseRequest.Outcome.DONE, ",".join(numbers))


def _reserve(
    membership: Membership, user: permissions.Actor, req: LeaseRequest, costs: list[Decimal]
) -> None:
    """Check the budgets and hold ``costs`` against them in one transaction, under the
    membership's row lock (PostgreSQL; SQLite's immediate transactions take the database's
    write lock): two requests of one member cannot both pass on the same spend."""
    with transaction.atomic():
        if membership.pk is not None:
            membership = Membership.objects.select_for_update().get(pk=membership.pk)
        check_budget(membership, user, costs)
        reserved = sum(costs, Decimal(0))
        LeaseRequest.objects.filter(pk=req.pk).update(reserved=reserved)
        req.reserved = reserved


def _finish_request(req: LeaseRequest, outcome: str, msg: str) -> None:
    """Record the outcome; the reservation goes (the leases carry the cost, or nothing was
    leased), except for an ambiguous request: it may have leased numbers at its worst case."""
    now = timezone.now()
    fields = {"outcome": outcome, "msg": msg[:2000], "finished_at": now}
    if outcome != LeaseRequest.Outcome.AMBIGUOUS:
        fields["reserved"] = req.reserved = Decimal(0)
    LeaseRequest.objects.filter(pk=req.pk).update(**fields)
    req.outcome, req.msg, req.finished_at = outcome, msg, now


def settle_orphaned_requests(
    now: datetime | None = None, account_id: int | None = None
) -> dict[str, int]:
    """Lease requests still pending after the longest a lease request can take
    (``timing.reconcile_hold``) were left by a process that died mid-request, a killed web
    worker. One whose lease call went out (its audit row is written before it is sent) may have
    leased and charged numbers no one will name: it becomes ambiguous, is reconciled like any
    other (``leases.reconcile``) and keeps its reservation. One that died before it failed."""
    now = now or timezone.now()
    stale = LeaseRequest.objects.filter(
        outcome=LeaseRequest.Outcome.PENDING, created_at__lt=now - reconcile_hold()
    )
    if account_id is not None:
        stale = stale.filter(account_id=account_id)
    called = ApiCall.objects.filter(lease_request_id=OuterRef("pk"), endpoint="get_numbers")
    ambiguous = stale.filter(Exists(called)).update(
        outcome=LeaseRequest.Outcome.AMBIGUOUS,
        msg="the process making the lease call stopped before its answer",
        finished_at=now,
    )
    failed = stale.update(
        outcome=LeaseRequest.Outcome.FAILED,
        msg="the process stopped before the lease call",
        finished_at=now,
        reserved=Decimal(0),
    )
    return {"ambiguous": ambiguous, "failed": failed}
