"""The automation API, ``/api/v1/``: what the console's pages do, for test suites.

Every endpoint acts as the token's member through ``accounts.permissions`` and changes lease
state only through ``leases.services``, as the pages do. ``POST /leases`` maps the client's
``Idempotency-Key`` (per token) onto the services' request key, so a retried request returns
the first one's result and never makes a second upstream call.
"""

from __future__ import annotations

import asyncio
import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from ninja import Path, Query, Status

from accounts import permissions
from accounts.models import Role

from .. import services
from ..errors import ServiceError
from ..models import (
    ACTIVE_STATES,
    FINAL_STATES,
    Item,
    Lease,
    LeaseRequest,
    LeaseState,
    Message,
    SendRequest,
)
from . import keys, limits
from . import schemas as s
from .auth import AsyncTokenAuth, TokenAuth
from .errors import (
    ApiError,
    JsonParser,
    ambiguous_message,
    error_response,
    install,
    no_content,
)
from .openapi import CREATE_LEASE_ERRORS, ERROR_TEXT, ZhimaAPI, operation
from .reads import allowed, look, visible
from .watch import db, watcher

api = ZhimaAPI(
    title="Zhima Console API",
    version="1",
    description=(
        "Lease verification numbers, wait for their codes and release them from test suites. "
        "Every call acts as the token's member, within the member's roles and budgets, and "
        "every upstream call is in the audit log under the member's and the token's name. "
        'Every error is `{"error": {"code", "message"}}` (the `Error` schema). '
        "Codes arrive through the upstream's `sms/get.php`, which the console polls about "
        "every 5 seconds and which answers only a number's latest SMS: two SMS to one number "
        "within one poll reach the console as one, the later."
    ),
    servers=[{"url": "/", "description": "The console serving this document."}],
    parser=JsonParser(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url=None,
    auth=TokenAuth(),
)
install(api)

LEASES = Lease.objects.select_related("item", "account", "user", "token")
# How long a lease request's first answer is kept to answer its replays byte for byte.
ANSWER_SECONDS = 86400


# No bounds in the schema: an id past any row (negative, or beyond 64 bits) is the same 404 as
# a lease of another account or a missing one, so ids cannot be mapped by their answers.
LEASE_ID = Path(..., description="The lease's id.", example=42)


def _lease_out(lease: Lease) -> s.LeaseOut:
    return s.LeaseOut.from_orm(lease)


def _lease(request, lease_id: int, role: str = Role.VIEWER) -> Lease:
    lease, _m = permissions.get_for_user(request.auth, LEASES, lease_id, role)
    return lease


# A lease's own columns: what an action changes. Its item, account, member and token stay as
# read with it.
OWN_COLUMNS = [f.attname for f in Lease._meta.concrete_fields if not f.is_relation]


def _after(lease: Lease) -> s.LeaseOut:
    """The lease as an action left it (the member passed the gate for the action)."""
    try:
        lease.refresh_from_db(fields=OWN_COLUMNS)
    except Lease.DoesNotExist:  # deleted meanwhile (its account, in the admin)
        raise Http404(permissions.NOT_FOUND) from None
    return _lease_out(lease)


# -- items -----------------------------------------------------------------------------------


@api.get(
    "/items",
    tags=["items"],
    **operation("listItems", "List items", {200: (list[s.ItemOut], "The items.")}),
)
def list_items(request):
    """Items of the developer accounts the token reaches, with prices and capabilities (the
    items a manager added on the console's items page)."""
    rows = Item.objects.filter(account__in=permissions.accounts_for(request.auth))
    return list(rows.select_related("account"))


# -- leasing ---------------------------------------------------------------------------------


def _account_for(request, name: str | None):
    accounts = permissions.accounts_list(request.auth)
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


def _result(req: LeaseRequest):
    """A lease request's result, read from its row (the answer to its key)."""
    if req.outcome == LeaseRequest.Outcome.DONE:
        leases = LEASES.filter(request=req).order_by("id")
        return s.LeasesOut.from_orm({"leases": list(leases)})
    if req.outcome == LeaseRequest.Outcome.AMBIGUOUS:
        raise ApiError(502, "ambiguous", ambiguous_message())
    if req.outcome == LeaseRequest.Outcome.FAILED:
        raise ApiError(
            502,
            "upstream_unreachable",
            _(
                "The upstream could not be reached (%(reason)s). No number was leased and "
                "nothing was charged."
            )
            % {"reason": req.msg},
        )
    if req.outcome == LeaseRequest.Outcome.PENDING:
        raise ApiError(
            409,
            "in_progress",
            _("A request with this Idempotency-Key is still in progress; retry shortly."),
            {"Retry-After": "1"},
        )
    raise ApiError(409, "refused", req.msg)


def _answer(request, req: LeaseRequest, fingerprint: str) -> HttpResponse:
    """The answer to a lease request's key, rendered once: while it is kept, every replay
    of the key gets these bytes (a refusal's too), whatever changed since."""
    stored = cache.get(f"api-answer:{req.key}")
    if stored is None:
        try:
            response = api.create_response(request, _result(req).model_dump(), status=201)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.headers)
            if exc.code == "in_progress":
                return response  # not an answer yet
        stored = {
            "body": fingerprint,
            "status": response.status_code,
            "content": response.content,
            "headers": dict(response.items()),
        }
        if not cache.add(f"api-answer:{req.key}", stored, ANSWER_SECONDS):
            stored = cache.get(f"api-answer:{req.key}") or stored  # a concurrent replay's
    response = HttpResponse(stored["content"], status=stored["status"])
    for name, value in stored["headers"].items():
        response[name] = value
    return response


@api.post(
    "/leases",
    tags=["leases"],
    **operation(
        "createLease",
        "Lease numbers",
        {201: (s.LeasesOut, "The leased numbers (the first answer again for a used key).")},
        CREATE_LEASE_ERRORS,
    ),
)
def create_lease(request, body: s.LeaseIn, idempotency_key: str = keys.header("leases once")):
    """Lease numbers for an item. The same `Idempotency-Key` from the same token gets the
    first answer again, byte for byte (for 24 hours; a refusal's too) and makes no second
    upstream call; a different body with a used key is a 422. A 502 `ambiguous` means a
    number may have been leased: it is reconciled, never repeated."""
    raw = keys.required(idempotency_key)
    key = keys.scoped(request, "lease", raw)
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    stored = cache.get(f"api-answer:{key}")
    if stored is not None and stored["body"] == fingerprint:
        req = LeaseRequest.objects.filter(key=key).first()
        if req is not None:
            return _answer(request, req, fingerprint)
    limits.rate_limit(request)
    account = _account_for(request, body.account)
    item = Item.objects.select_related("account").filter(account=account, item_id=body.item).first()
    if item is None:
        raise ApiError(
            404,
            "not_found",
            _("Item %(i)s is not in the console for %(a)s (add it on the items page).")
            % {"i": body.item, "a": account.name},
        )
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
        except ServiceError:
            # Refused or failed after the request was recorded: answered from its row, as
            # every replay of the key is; refused before it: nothing was done for the key.
            req = LeaseRequest.objects.filter(key=key).first()
            if req is None or req.outcome == LeaseRequest.Outcome.PENDING:
                raise
    if not _same_body(req, item, body):
        raise ApiError(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was used for a different request."),
        )
    return _answer(request, req, fingerprint)


STATE_FILTER = Query(
    "", description="Only leases in this state; `active`: waiting or received; empty: any."
)


@api.get(
    "/leases",
    tags=["leases"],
    **operation(
        "listLeases",
        "List the member's leases",
        {200: (s.LeasesOut, "The leases, newest first (at most 500).")},
        (400,),
    ),
)
def list_leases(
    request,
    tag: str = Query(
        "", max_length=100, pattern=s.TAG, description="Only leases with this tag; empty: any."
    ),
    state: s.StateFilter = STATE_FILTER,
):
    """The leases of the token's member on the accounts the token reaches (newest first, at
    most 500), by tag and state; `state=active` is every lease that still holds a number."""
    qs = LEASES.filter(user=request.auth, account__in=permissions.accounts_for(request.auth))
    if tag:
        qs = qs.filter(tag=tag)
    if state == "active":
        qs = qs.filter(state__in=ACTIVE_STATES)
    elif state:
        if state not in LeaseState.values:
            raise ApiError(400, "invalid_request", _("Unknown state %(s)s.") % {"s": state})
        qs = qs.filter(state=state)
    return s.LeasesOut.from_orm({"leases": list(qs.order_by("-leased_at", "-id")[:500])})


@api.post(
    "/leases/release",
    tags=["leases"],
    **operation(
        "releaseByTag",
        "Release a run's numbers",
        {200: (s.ReleasedOut, "What was released.")},
        (400, 403, 409),
    ),
)
def release_by_tag(
    request,
    tag: str = Query(
        ..., min_length=1, max_length=100, pattern=s.TAG, description="The run's tag (required)."
    ),
):
    """Release every number the token's member still holds under `tag` on the accounts the
    token reaches (a CI run's teardown). Safe to repeat: a second call releases nothing."""
    leases = list(
        LEASES.filter(user=request.auth, tag=tag, state__in=ACTIVE_STATES).filter(
            account__in=permissions.accounts_for(request.auth)
        )
    )
    counts = services.release(request.auth, leases) if leases else {}
    done = LEASES.filter(pk__in=[x.pk for x in leases]).order_by("id")
    return s.ReleasedOut.from_orm(
        {
            "released": sum(counts.get(x, 0) for x in FINAL_STATES),
            "retrying": counts.get("retry", 0),
            "leases": list(done),
        }
    )


@api.get(
    "/leases/{lease_id}",
    tags=["leases"],
    **operation("getLease", "Get a lease", {200: (s.LeaseDetail, "The lease.")}, (400, 404)),
)
def get_lease(request, lease_id: int = LEASE_ID):
    """A lease's state, tag and received messages (any lease on an account the token reaches,
    any role)."""
    return s.LeaseDetail.from_orm(_lease(request, lease_id))


# -- waiting for the code --------------------------------------------------------------------


@api.get(
    "/leases/{lease_id}/code",
    auth=AsyncTokenAuth(),
    tags=["leases"],
    **operation(
        "waitForCode",
        "Wait for a code",
        {
            200: (s.CodeOut, "The first received SMS newer than `after`."),
            204: (None, "No newer SMS within `wait` seconds (no body): ask again."),
        },
        (400, 404, 410, 429),
    ),
)
async def wait_code(
    request,
    lease_id: int = LEASE_ID,
    wait: float = Query(0, ge=0, le=120, description="Seconds to hold the request (≤ 120)."),
    after: int = Query(
        0, ge=0, le=2**63 - 1, description="Only a message with a greater id (0: any)."
    ),
):
    """Long-poll for the first received message newer than `after`: 200 as soon as one is
    stored, 204 when `wait` seconds pass, 410 when the lease has ended without one. Pass
    the last `message_id` you read as `after` so a stale code is never read twice. A
    several-SMS item (types 3 to 6) waits for the next SMS only after POST …/keep-waiting.
    The console polls the upstream's `sms/get.php` about every 5 seconds, and it answers
    only a number's latest SMS: two SMS to one number within one poll arrive as one, the
    later. The token and the membership are checked again before every answer and at least
    every `ZHIMA_API_WAIT_RECHECK_SECONDS` of waiting (401 or 404 once withdrawn)."""
    account_id = await db(visible, request.auth, lease_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    recheck = max(0.05, settings.ZHIMA_API_WAIT_RECHECK_SECONDS)
    checked = True  # by the authentication and the visibility check just now
    slot = await db(limits.take_wait_slot, request.auth.api_token.pk, wait) if wait else None
    try:
        w = watcher()
        with w.watch(lease_id) as woken:
            read = True  # the first read; then when woken, when authority may be gone, at the end
            while True:
                if read:
                    woken.clear()
                    msg, ended = await db(look, request.auth, lease_id, after, checked)
                    checked = False
                    if msg is not None:
                        return Status(200, s.CodeOut.from_orm(msg))
                    if ended:
                        raise ApiError(
                            410,
                            "ended",
                            _("The lease has ended (%(s)s) with no newer message.") % {"s": ended},
                        )
                    if loop.time() >= deadline:
                        return no_content()
                remaining = deadline - loop.time()
                try:
                    await asyncio.wait_for(woken.wait(), min(max(remaining, 0), recheck / 2))
                    read = True
                except TimeoutError:
                    # Between reads the authority is checked once per token and account for
                    # all their waiters (the watcher shares the answer); a read checks it again.
                    read = loop.time() >= deadline or not await w.shared(
                        (request.auth.api_token.pk, account_id),
                        recheck / 2,
                        lambda: db(allowed, request.auth, account_id),
                    )
    finally:
        if slot is not None:  # given back even when the client went away (view cancelled)
            await asyncio.shield(db(limits.give_back, slot))


# -- actions ---------------------------------------------------------------------------------


@api.post(
    "/leases/{lease_id}/release",
    tags=["leases"],
    **operation(
        "releaseLease",
        "Release a number",
        {200: (s.LeaseOut, "The lease, released.")},
        {
            400: ERROR_TEXT[400],
            403: ERROR_TEXT[403],
            404: ERROR_TEXT[404],
            409: "`not_held`: the number is no longer held; or refused (`refused`).",
            502: "`release_pending`: the upstream did not confirm the release; it is retried "
            "automatically.",
        },
    ),
)
def release(request, lease_id: int = LEASE_ID):
    """Release the number now (operator role); its messages stay readable."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    try:
        services.release_one(request.auth, lease)
    except services.ReleasePending as exc:
        raise ApiError(502, "release_pending", str(exc)) from None
    except services.NotHeld as exc:
        raise ApiError(409, "not_held", str(exc)) from None
    return _after(lease)


@api.post(
    "/leases/{lease_id}/blacklist",
    tags=["leases"],
    **operation(
        "blacklistLease",
        "Blacklist a number",
        {200: (s.LeaseOut, "The lease, blocked.")},
        (400, 403, 404, 409),
    ),
)
def blacklist(request, lease_id: int = LEASE_ID):
    """Blacklist the number for this item at the upstream (operator role); it ends the
    lease."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    services.blacklist(request.auth, lease)
    return _after(lease)


@api.post(
    "/leases/{lease_id}/keep-waiting",
    tags=["leases"],
    **operation(
        "keepWaiting",
        "Wait for another SMS",
        {200: (s.LeaseOut, "The lease, waiting again.")},
        (400, 403, 404, 409),
    ),
)
def keep_waiting(request, lease_id: int = LEASE_ID):
    """Items that receive several SMS (types 3 to 6 keep the number): after an SMS, wait for
    another on the same number (operator role); then GET …/code with `after` set to the last
    `message_id` read. A single-SMS item is a 409."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    services.keep_waiting(request.auth, lease)
    return _after(lease)


@api.post(
    "/leases/{lease_id}/send",
    tags=["leases"],
    **operation(
        "sendSms",
        "Send an SMS",
        {201: (s.SendOut, "The SMS sent (the same for a used key).")},
        {
            **{n: ERROR_TEXT[n] for n in (400, 403, 404, 415, 422, 429)},
            409: ERROR_TEXT[409] + " `in_progress` (with `Retry-After`): a request with this "
            "key is still under way.",
        },
    ),
)
def send(
    request,
    body: s.SendIn,
    lease_id: int = LEASE_ID,
    idempotency_key: str = keys.header("sends once"),
):
    """Send an SMS from the number (items that can send, types 3 to 6; operator role). The
    same `Idempotency-Key` sends once and is answered as the first time (sent, refused, or
    not known whether it went); a different text with a used key is a 422."""
    raw = keys.required(idempotency_key)
    limits.rate_limit(request)
    lease = _lease(request, lease_id, Role.OPERATOR)
    key = keys.scoped(request, f"send:{lease.pk}", raw)
    try:
        req = services.send_once(request.auth, lease, body.text, key=key)
    except services.KeyReused:
        raise ApiError(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was used for a different request."),
        ) from None
    if req.outcome == SendRequest.Outcome.PENDING:
        raise ApiError(
            409,
            "in_progress",
            _("A request with this Idempotency-Key is still in progress; retry shortly."),
            {"Retry-After": "1"},
        )
    if req.outcome == SendRequest.Outcome.FAILED or req.message is None:
        raise ApiError(409, "refused", req.msg)
    return Status(201, {"message_id": req.message.pk, "text": req.message.text, "status": "sent"})


@api.get(
    "/leases/{lease_id}/send-status",
    tags=["leases"],
    **operation(
        "getSendStatus",
        "Ask whether the last SMS was delivered",
        {200: (s.SendStatusOut, "The upstream's answer.")},
        (400, 403, 404, 409),
    ),
)
def send_status(request, lease_id: int = LEASE_ID):
    """Ask the upstream whether the last SMS sent from this number was delivered (operator
    role); a number that sent nothing is a 409."""
    lease = _lease(request, lease_id, Role.OPERATOR)
    answer = services.send_status(request.auth, lease)
    last = lease.messages.filter(direction=Message.Direction.SENT).order_by("id").last()
    return {"answer": answer, "status": last.status if last else ""}
