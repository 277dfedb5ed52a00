"""The automation API, ``/api/v1/``: what the console's pages do, for test suites.

Every endpoint acts as the token's member through ``accounts.permissions`` and changes lease
state only through ``leases.services``, as the pages do. ``POST /leases`` maps the client's
``Idempotency-Key`` (per token) onto the services' request key, so a retried request returns
the first one's result and never makes a second upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from ninja import Header, NinjaAPI, Query, Status

from accounts import permissions
from accounts.models import Role

from .. import services
from ..errors import AmbiguousLease, ServiceError
from ..models import ACTIVE_STATES, FINAL_STATES, Item, Lease, LeaseRequest, LeaseState, Message
from . import schemas as s
from .auth import AsyncTokenAuth, TokenAuth
from .errors import ApiError, ambiguous_message, install
from .watch import db, watcher

api = NinjaAPI(
    title="Zhima Console API",
    version="1",
    description=(
        "Lease verification numbers, wait for their codes and release them from test suites. "
        "Every call acts as the token's member, within the member's roles and budgets, and "
        "every upstream call is in the audit log under the member's and the token's name."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url=None,
    auth=TokenAuth(),
)
install(api)

LEASES = Lease.objects.select_related("item", "account", "user", "token")
ERRORS = {400: s.Error, 401: s.Error, 403: s.Error, 404: s.Error, 409: s.Error}
IdempotencyKey = Header(None, alias="Idempotency-Key", description="Required; ≤ 200 characters")


def _lease_out(lease: Lease) -> dict:
    return {
        "id": lease.pk,
        "phone": lease.phone,
        "account": lease.account.name,
        "item": lease.item.item_id,
        "state": lease.state,
        "tag": lease.tag,
        "code": lease.code,
        "member": lease.user.get_username() if lease.user else None,
        "token": lease.token.name if lease.token else None,
        "leased_at": lease.leased_at,
        "received_at": lease.received_at,
        "ended_at": lease.ended_at,
        "end_reason": lease.end_reason,
    }


def _lease(request, lease_id: int, role: str = Role.VIEWER) -> Lease:
    lease, _m = permissions.get_for_user(request.auth, LEASES, lease_id, role)
    return lease


def _idempotency_key(raw: str | None) -> str:
    if not raw or len(raw) > 200 or not raw.isprintable():
        raise ApiError(
            400,
            "idempotency_key_required",
            _("An Idempotency-Key header (1 to 200 printable characters) is required."),
        )
    return raw


def _scoped_key(request, kind: str, raw: str) -> str:
    """The client's key, per token, as the services' request key (64 hex characters)."""
    token = request.auth.api_token
    return hashlib.sha256(f"api:{kind}:{token.pk}:{raw}".encode()).hexdigest()


def _rate_limit(request) -> None:
    """``ZHIMA_API_LEASES_PER_MINUTE`` lease requests per token in a minute that starts with
    the token's first request (in the shared cache, so every web process counts together)."""
    limit = settings.ZHIMA_API_LEASES_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    pk = request.auth.api_token.pk
    cache.add(f"api-rate:{pk}", now, 60)
    start = cache.get(f"api-rate:{pk}") or now
    key = f"api-rate:{pk}:{start:.6f}"
    cache.add(key, 0, 61)
    try:
        n = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 61)
        n = 1
    if n > limit:
        retry = max(1, math.ceil(start + 60 - now))
        raise ApiError(
            429,
            "rate_limited",
            _("Too many lease requests for this token (%(n)s a minute); retry in %(s)s s.")
            % {"n": limit, "s": retry},
            {"Retry-After": str(retry)},
        )


# -- items -----------------------------------------------------------------------------------


@api.get("/items", response={200: list[s.ItemOut], **ERRORS}, tags=["items"])
def list_items(request):
    """Items of the developer accounts the token reaches, with prices and capabilities."""
    rows = Item.objects.filter(account__in=permissions.accounts_for(request.auth))
    return [
        {
            "account": item.account.name,
            "item": item.item_id,
            "name": item.name,
            "type": item.type,
            "status": item.status,
            "usable": item.usable,
            "price_tiers": [
                {"price": str(t.price), "low": t.low, "high": t.high} for t in item.tier_list()
            ],
            "capabilities": {
                "max_per_request": item.max_per_request,
                "can_send": item.can_send,
                "sends_several": item.sends_several,
                "several_sms": item.several_sms,
            },
        }
        for item in rows.select_related("account")
    ]


# -- leasing ---------------------------------------------------------------------------------


def _account_for(request, name: str | None):
    accounts = list(permissions.accounts_for(request.auth))
    if name:
        for account in accounts:
            if account.name == name:
                return account
        raise ApiError(404, "not_found", _("No developer account %(a)s.") % {"a": name})
    if len(accounts) == 1:
        return accounts[0]
    raise ApiError(
        400,
        "account_required",
        _('This token reaches several developer accounts: name one in "account".'),
    )


def _same_body(req: LeaseRequest, item: Item, body: s.LeaseIn) -> bool:
    return (
        req.item_id == item.pk
        and req.quantity == (1 if body.phone else body.quantity)
        and req.tag == body.tag
        and req.params
        == {
            "carrier": body.carrier,
            "area_code": body.area_code,
            "international": body.international,
            "phone": body.phone,
        }
    )


def _replay(req: LeaseRequest):
    """A lease request's result, the first time or again for the same key."""
    if req.outcome == LeaseRequest.Outcome.DONE:
        leases = LEASES.filter(request=req).order_by("id")
        return Status(201, {"leases": [_lease_out(x) for x in leases]})
    if req.outcome == LeaseRequest.Outcome.AMBIGUOUS:
        raise ApiError(502, "ambiguous", ambiguous_message())
    if req.outcome == LeaseRequest.Outcome.FAILED:
        raise ApiError(502, "upstream_unreachable", req.msg)
    if req.outcome == LeaseRequest.Outcome.PENDING:
        raise ApiError(
            409,
            "in_progress",
            _("A request with this Idempotency-Key is still in progress; retry shortly."),
            {"Retry-After": "1"},
        )
    raise ApiError(409, "refused", req.msg)


@api.post(
    "/leases",
    response={201: s.LeasesOut, 422: s.Error, 429: s.Error, 502: s.Error, **ERRORS},
    tags=["leases"],
)
def create_lease(request, body: s.LeaseIn, idempotency_key: str | None = IdempotencyKey):
    """Lease numbers. The same ``Idempotency-Key`` from the same token returns the same result
    and makes no second upstream call; a different body with a used key is a 422. A 502
    ``ambiguous`` means a number may have been leased: it is reconciled, never repeated."""
    raw = _idempotency_key(idempotency_key)
    _rate_limit(request)
    account = _account_for(request, body.account)
    item = Item.objects.select_related("account").filter(account=account, item_id=body.item).first()
    if item is None:
        raise ApiError(
            404,
            "not_found",
            _("Item %(i)s is not in the console for %(a)s (add it on the items page).")
            % {"i": body.item, "a": account.name},
        )
    key = _scoped_key(request, "lease", raw)
    req = LeaseRequest.objects.filter(key=key).first()
    if req is None:
        try:
            req = services.lease_numbers(
                request.auth,
                item,
                key=key,
                quantity=body.quantity,
                carrier=body.carrier,
                area_code=body.area_code,
                international=body.international,
                phone=body.phone,
                tag=body.tag,
            )
        except AmbiguousLease:
            raise
        except ServiceError as exc:
            failed = LeaseRequest.objects.filter(key=key, outcome=LeaseRequest.Outcome.FAILED)
            if failed.exists():
                raise ApiError(502, "upstream_unreachable", str(exc)) from None
            raise
    if not _same_body(req, item, body):
        raise ApiError(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was used for a different request."),
        )
    return _replay(req)


@api.get("/leases", response={200: s.LeasesOut, **ERRORS}, tags=["leases"])
def list_leases(
    request, tag: str = Query("", max_length=100, pattern=s.TAG), state: str = Query("")
):
    """The member's leases (newest first, at most 500), by tag and state; ``state=active`` is
    every lease that still holds a number."""
    qs = LEASES.filter(user=request.auth, account__in=permissions.accounts_for(request.auth))
    if tag:
        qs = qs.filter(tag=tag)
    if state == "active":
        qs = qs.filter(state__in=ACTIVE_STATES)
    elif state:
        if state not in LeaseState.values:
            raise ApiError(400, "invalid_request", _("Unknown state %(s)s.") % {"s": state})
        qs = qs.filter(state=state)
    return {"leases": [_lease_out(x) for x in qs.order_by("-leased_at", "-id")[:500]]}


@api.post("/leases/release", response={200: s.ReleasedOut, **ERRORS}, tags=["leases"])
def release_by_tag(request, tag: str = Query(..., min_length=1, max_length=100, pattern=s.TAG)):
    """Release every number the member still holds under ``tag`` (a CI run's teardown)."""
    leases = list(
        LEASES.filter(user=request.auth, tag=tag, state__in=ACTIVE_STATES).filter(
            account__in=permissions.accounts_for(request.auth)
        )
    )
    counts = services.release(request.auth, leases) if leases else {}
    done = LEASES.filter(pk__in=[x.pk for x in leases]).order_by("id")
    return {
        "released": sum(counts.get(x, 0) for x in FINAL_STATES),
        "retrying": counts.get("retry", 0),
        "leases": [_lease_out(x) for x in done],
    }


@api.get("/leases/{lease_id}", response={200: s.LeaseDetail, **ERRORS}, tags=["leases"])
def get_lease(request, lease_id: int):
    """A lease's state, tag and received messages."""
    lease = _lease(request, lease_id)
    out = _lease_out(lease)
    out["messages"] = [
        {
            "id": m.pk,
            "text": m.text,
            "code": m.code,
            "candidates": m.candidates,
            "received_at": m.created_at,
        }
        for m in lease.messages.filter(direction=Message.Direction.RECEIVED).order_by("id")
    ]
    return out


# -- waiting for the code --------------------------------------------------------------------


def _visible(user, lease_id: int) -> int:
    permissions.get_for_user(user, Lease.objects.only("pk", "account_id"), lease_id)
    return lease_id


def _newer(lease_id: int, after: int):
    """The first received message after ``after``, or whether the lease has ended."""
    msg = (
        Message.objects.filter(lease_id=lease_id, direction=Message.Direction.RECEIVED)
        .filter(id__gt=after)
        .order_by("id")
        .first()
    )
    if msg is not None:
        return msg, None
    state = Lease.objects.filter(pk=lease_id).values_list("state", flat=True).first()
    ended = state in FINAL_STATES or state == LeaseState.RELEASING
    return None, state if ended else None


@api.get(
    "/leases/{lease_id}/code",
    auth=AsyncTokenAuth(),
    response={200: s.CodeOut, 204: None, 410: s.Error, **ERRORS},
    tags=["leases"],
)
async def wait_code(
    request,
    lease_id: int,
    wait: float = Query(0, ge=0, le=120, description="Seconds to hold the request (≤ 120)"),
    after: int = Query(0, ge=0, le=2**63 - 1, description="Only a message with a greater id"),
):
    """Long-poll for the first received message newer than ``after``: 200 as soon as one is
    stored, 204 when ``wait`` seconds pass, 410 when the lease has ended without one. Pass
    the last ``message_id`` you read as ``after`` so a stale code is never read twice."""
    await db(_visible, request.auth, lease_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    with watcher().watch(lease_id) as woken:
        while True:
            woken.clear()
            msg, ended = await db(_newer, lease_id, after)
            if msg is not None:
                return Status(
                    200,
                    {
                        "code": msg.code,
                        "text": msg.text,
                        "message_id": msg.pk,
                        "received_at": msg.created_at,
                    },
                )
            if ended:
                raise ApiError(
                    410,
                    "ended",
                    _("The lease has ended (%(s)s) with no newer message.") % {"s": ended},
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Status(204, None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), remaining)


# -- actions ---------------------------------------------------------------------------------


@api.post(
    "/leases/{lease_id}/release",
    response={200: s.LeaseOut, 502: s.Error, **ERRORS},
    tags=["leases"],
)
def release(request, lease_id: int):
    """Release the number (its messages stay readable)."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    try:
        services.release_one(request.auth, lease)
    except services.ReleasePending as exc:
        raise ApiError(502, "release_pending", str(exc)) from None
    except services.NotHeld as exc:
        raise ApiError(409, "not_held", str(exc)) from None
    return _lease_out(_lease(request, lease_id))


@api.post("/leases/{lease_id}/blacklist", response={200: s.LeaseOut, **ERRORS}, tags=["leases"])
def blacklist(request, lease_id: int):
    """Blacklist the number for this item (it ends the lease)."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    services.blacklist(request.auth, lease)
    return _lease_out(_lease(request, lease_id))


@api.post("/leases/{lease_id}/keep-waiting", response={200: s.LeaseOut, **ERRORS}, tags=["leases"])
def keep_waiting(request, lease_id: int):
    """Several-SMS items (types 5, 6): wait for another SMS on the same number."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    services.keep_waiting(request.auth, lease)
    return _lease_out(_lease(request, lease_id))


@api.post(
    "/leases/{lease_id}/send",
    response={201: s.SendOut, 422: s.Error, **ERRORS},
    tags=["leases"],
)
def send(request, lease_id: int, body: s.SendIn, idempotency_key: str | None = IdempotencyKey):
    """Send an SMS from the number (items that can send). The same ``Idempotency-Key`` sends
    once; a different text with a used key is a 422."""
    raw = _idempotency_key(idempotency_key)
    lease = _lease(request, lease_id, Role.OPERATOR)
    key = "api-send:" + _scoped_key(request, f"send:{lease.pk}", raw)
    digest = hashlib.sha256(body.text.encode()).hexdigest()
    if not cache.add(key, {"digest": digest, "message_id": None}, 86400):
        seen = cache.get(key) or {}
        if seen.get("digest") != digest:
            raise ApiError(
                422,
                "idempotency_key_reused",
                _("This Idempotency-Key was used for a different request."),
            )
        message_id = seen.get("message_id")
        msg = (
            Message.objects.filter(pk=message_id, lease=lease).first()
            if message_id is not None
            else None
        )
        if msg is None:
            raise ApiError(
                409,
                "in_progress",
                _("A request with this Idempotency-Key is still in progress; retry shortly."),
                {"Retry-After": "1"},
            )
    else:
        try:
            msg = services.send_sms(request.auth, lease, body.text)
        except Exception:
            cache.delete(key)  # nothing was sent for this key: a retry may send
            raise
        cache.set(key, {"digest": digest, "message_id": msg.pk}, 86400)
    return Status(201, {"message_id": msg.pk, "text": msg.text, "status": msg.status})


@api.get(
    "/leases/{lease_id}/send-status", response={200: s.SendStatusOut, **ERRORS}, tags=["leases"]
)
def send_status(request, lease_id: int):
    """Ask the upstream whether the last SMS sent from this number was delivered."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    answer = services.send_status(request.auth, lease)
    last = lease.messages.filter(direction=Message.Direction.SENT).order_by("id").last()
    return {"answer": answer, "status": last.status if last else ""}
