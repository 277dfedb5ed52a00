"""The API's OpenAPI document, beyond what django-ninja generates from the views and schemas:
readable operation ids, summaries and the answers each operation can give (``operation``),
one bearer scheme for the whole API, the server, the tags, and the webhooks (OpenAPI 3.1's
``webhooks``: what the console POSTs to a registered URL, its headers and its signature)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from ninja import Field, NinjaAPI, Schema
from ninja.openapi.schema import REF_TEMPLATE
from ninja.schema import NinjaGenerateJsonSchema

from ..webhooks import delivery as webhooks
from ..webhooks.models import CODE_RECEIVED, EVENTS, LEASE_ENDED
from . import schemas as s

SCHEME = "bearerAuth"

# What each error status means, unless an operation says more.
ERROR_TEXT = {
    400: "Bad input: a parameter or the body is invalid (`invalid_request`).",
    401: "No valid API token (`unauthorized`): missing, unknown, revoked or expired, or its "
    "member is inactive.",
    403: "The member's role on the account, or a read-only token, does not allow this "
    "(`forbidden`).",
    404: "No such lease for this token (`not_found`): it does not exist, or it is on an account "
    "the token does not reach.",
    409: "Refused (`refused`): by the console (role, state, budget) or by the upstream, whose "
    "message is given verbatim.",
    410: "The lease has ended with no newer message (`ended`).",
    415: "The body is not sent as JSON (`unsupported_media_type`).",
    422: "This Idempotency-Key was used for a different request (`idempotency_key_reused`).",
    429: "Too many requests for this token (`rate_limited`); retry after `Retry-After` seconds.",
    502: "The upstream failed or did not answer clearly.",
}
IN_PROGRESS = " `in_progress` (with `Retry-After`): a request with this key is still under way."
CREATE_LEASE_ERRORS = {
    400: ERROR_TEXT[400] + " Also `idempotency_key_required`, and `account_required` when the "
    "token reaches several accounts and the body names none.",
    403: ERROR_TEXT[403],
    404: "No such developer account or item for this token (`not_found`).",
    409: ERROR_TEXT[409] + IN_PROGRESS,
    415: ERROR_TEXT[415],
    422: ERROR_TEXT[422],
    429: ERROR_TEXT[429] + " `ZHIMA_API_LEASES_PER_MINUTE` lease requests per token in a minute.",
    502: "`ambiguous`: the upstream did not answer clearly, a number may have been leased; the "
    "console reconciles it and never repeats the call (do not retry with a new key). "
    "`upstream_unreachable`: no number was leased.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with: Bearer.",
            "schema": {"type": "string"},
        }
    },
    429: RETRY_AFTER,
}


def operation(
    operation_id: str,
    summary: str,
    ok: dict[int, tuple[Any, str]],
    errors: Iterable[int] | dict[int, str] = (),
) -> dict[str, Any]:
    """The decorator's keyword arguments documenting one operation: its id and summary, its
    successful answers (``{status: (schema or None, description)}``) and the errors it can
    answer (every one with the ``Error`` envelope; 401 always), each with a description."""
    texts = dict(errors) if isinstance(errors, dict) else {n: ERROR_TEXT[n] for n in errors}
    texts.setdefault(401, ERROR_TEXT[401])
    response: dict[int, Any] = {status: model for status, (model, _t) in ok.items()}
    docs: dict[int, dict[str, Any]] = {n: {"description": t} for n, (_m, t) in ok.items()}
    for status, text in sorted(texts.items()):
        response[status] = s.Error
        docs[status] = {"description": text}
        if status in HEADERS:
            docs[status]["headers"] = HEADERS[status]
    return {
        "operation_id": operation_id,
        "summary": summary,
        "response": response,
        "openapi_extra": {"responses": docs},
    }


def idempotency_key_doc(what: str) -> str:
    return (
        f"Required: 1 to 200 visible ASCII characters (no spaces). The same key from the same "
        f"token {what}; without a valid one the answer is a 400 `idempotency_key_required`."
    )


# -- the webhooks ----------------------------------------------------------------------------


class WebhookLease(Schema):
    """The lease an event is about."""

    id: int = Field(description="The lease's id (as in GET /api/v1/leases/{lease_id}).")
    account: str = Field(description="The developer account's name.")
    item: str = Field(description="The upstream's item id.")
    phone: str = Field(description="The phone number.")
    state: str = Field(
        description="The lease's state (see LeaseOut.state).", json_schema_extra=s.enum(s.STATES)
    )
    tag: str = Field(description="The lease request's tag.")
    leased_at: datetime = Field(description="When it was leased. " + s.DATETIME)


class WebhookEndedLease(WebhookLease):
    """The lease that ended, with when and why."""

    ended_at: datetime | None = Field(description="When it ended. " + s.DATETIME)
    end_reason: str = Field(
        description="Why it ended (see LeaseOut.end_reason).",
        json_schema_extra=s.enum(s.END_REASONS),
    )


class WebhookMessage(Schema):
    """The SMS received."""

    id: int = Field(description="The message's id (a `message_id` of GET …/code).")
    text: str = Field(description="The SMS text, as the upstream gave it.")
    code: str = Field(description="The verification code found in it; empty: none found.")
    candidates: list[str] = Field(description="Every code-like string found, best first.")
    received_at: datetime = Field(description="When the console stored it. " + s.DATETIME)


class CodeReceivedData(Schema):
    """The lease and the SMS it received."""

    lease: WebhookLease = Field(description="The lease.")
    message: WebhookMessage = Field(description="The SMS.")


class LeaseEndedData(Schema):
    """The lease that ended."""

    lease: WebhookEndedLease = Field(description="The lease, in its final state.")


class CodeReceivedEvent(Schema):
    """A ``lease.code_received`` event: an SMS was stored for a lease of the account."""

    id: str = Field(
        description="The event's id (evt_…), the same on every retry: de-duplicate on it."
    )
    type: Literal["lease.code_received"] = Field(description="The event type.")
    created: int = Field(description="When the event was made, in Unix seconds.")
    data: CodeReceivedData = Field(description="What happened.")


class LeaseEndedEvent(Schema):
    """A ``lease.ended`` event: a lease of the account reached a final state (released,
    expired, blocked or failed)."""

    id: str = Field(
        description="The event's id (evt_…), the same on every retry: de-duplicate on it."
    )
    type: Literal["lease.ended"] = Field(description="The event type.")
    created: int = Field(description="When the event was made, in Unix seconds.")
    data: LeaseEndedData = Field(description="What happened.")


def retry_minutes() -> list[int]:
    """The waits, in minutes, after each failed attempt but the last (``webhooks.backoff``)."""
    return [int(webhooks.backoff(n).total_seconds() // 60) for n in range(1, webhooks.MAX_ATTEMPTS)]


def delivery_text() -> str:
    waits = retry_minutes()
    return (
        "The console POSTs each event as JSON to every active URL registered for it on the "
        "account, from a worker, after the change is committed. An answer other than 2xx, or "
        "none within 3 s to connect and 10 s to answer (redirects are not followed), is "
        f"retried {', '.join(map(str, waits[:-1]))} and {waits[-1]} minutes after the failed "
        f"attempt — {webhooks.MAX_ATTEMPTS} attempts in all — each up to about a minute "
        "later (an every-minute task posts what is due). Verify `X-Zhima-Signature` before "
        "trusting the body: `sha256=` followed by the hex HMAC-SHA256, under the URL's "
        "secret, of the `X-Zhima-Timestamp` value, a dot and the raw body; refuse old "
        "timestamps (e.g. more than 5 minutes) to refuse replays."
    )


# Each POST's headers: name, meaning, schema (X-Zhima-Event's enum is the webhook's event).
WEBHOOK_HEADERS: list[tuple[str, str, dict[str, Any]]] = [
    ("X-Zhima-Event", "The event type, as in the body's `type`.", {"enum": list(EVENTS)}),
    (
        "X-Zhima-Event-Id",
        "The event's id, as in the body's `id`: the same on every retry.",
        {"pattern": "^evt_[0-9a-f]{32}$"},
    ),
    ("X-Zhima-Timestamp", "This attempt's time, in Unix seconds.", {"pattern": "^[0-9]+$"}),
    (
        "X-Zhima-Signature",
        "`sha256=` + hex HMAC-SHA256 of `<X-Zhima-Timestamp>.<raw body>` under the secret.",
        {"pattern": "^sha256=[0-9a-f]{64}$"},
    ),
]


def _webhook(event: str, model: type[Schema], summary: str, schemas: dict) -> dict[str, Any]:
    schema = model.model_json_schema(
        ref_template=REF_TEMPLATE, schema_generator=NinjaGenerateJsonSchema, mode="serialization"
    )
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    ref = REF_TEMPLATE.format(model=model.__name__)
    return {
        "post": {
            "operationId": model.__name__[0].lower() + model.__name__[1:],
            "summary": summary,
            "description": delivery_text(),
            "tags": ["webhooks"],
            "parameters": [
                {
                    "in": "header",
                    "name": name,
                    "required": True,
                    "description": text,
                    "schema": {"type": "string", **extra}
                    if name != "X-Zhima-Event"
                    else {"type": "string", "enum": [event]},
                }
                for name, text, extra in WEBHOOK_HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": ref}}},
            },
            "responses": {
                "2XX": {"description": "Received: the event is not sent again."},
                "default": {"description": "Not received: the event is retried (see above)."},
            },
            "security": [],
        }
    }


def _link_leases(schema: dict) -> None:
    """OpenAPI links from the leases POST /leases answers to the operations on a lease (what
    a client, or a fuzzer, calls next with the lease's id)."""
    targets = {
        op["operationId"]: op
        for path, item in schema["paths"].items()
        if "{lease_id}" in path
        for op in item.values()
    }
    links = {
        op_id: {
            "operationId": op_id,
            "parameters": {"lease_id": "$response.body#/leases/0/id"},
            "description": f"{op['summary']}: the first lease of the answer.",
        }
        for op_id, op in targets.items()
    }
    for item in schema["paths"].values():
        for op in item.values():
            if op.get("operationId") == "createLease":
                op["responses"][201]["links"] = links


class ZhimaAPI(NinjaAPI):
    """The API, whose document has one bearer scheme for every operation, and the webhooks."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for item in schema["paths"].values():
            for op in item.values():
                op.pop("security", None)  # every operation: the top-level scheme
        components = schema["components"]
        components["securitySchemes"] = {
            SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "zk_ followed by 43 URL-safe characters",
                "description": (
                    "An API token of a console member (the console's API tokens page, or "
                    "`manage.py api_token create`): `Authorization: Bearer zk_…`."
                ),
            }
        }
        schema["security"] = [{SCHEME: []}]
        _link_leases(schema)
        schema["tags"] = [
            {"name": "items", "description": "The items of the developer accounts."},
            {"name": "leases", "description": "Lease numbers, wait for codes, release."},
            {"name": "webhooks", "description": "What the console POSTs to registered URLs."},
        ]
        schema["webhooks"] = {
            CODE_RECEIVED: _webhook(
                CODE_RECEIVED, CodeReceivedEvent, "An SMS was received", components["schemas"]
            ),
            LEASE_ENDED: _webhook(
                LEASE_ENDED, LeaseEndedEvent, "A lease ended", components["schemas"]
            ),
        }
        return schema
