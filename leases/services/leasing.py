"""Leasing numbers: one get-numbers call per request key, never repeated after an ambiguous
failure (the money rule); one ``Lease`` per number it returned."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.clients import CallContext, client_for
from accounts.models import Role
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from ..errors import _AMBIGUOUS, AmbiguousLease, ServiceError, upstream_error
from ..models import Item, Lease, LeaseEvent, LeaseRequest
from ..rules import check_budget, check_not_reconciling, estimate_costs, poll_interval
from .events import event


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
    tag: str = "",
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
                tag=tag,
                token=getattr(user, "api_token", None),
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
    return req


def _finish_request(req: LeaseRequest, outcome: str, msg: str) -> None:
    now = timezone.now()
    LeaseRequest.objects.filter(pk=req.pk).update(outcome=outcome, msg=msg[:2000], finished_at=now)
    req.outcome, req.msg, req.finished_at = outcome, msg, now
