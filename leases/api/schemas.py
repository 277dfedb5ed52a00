"""The API's request and response bodies (the OpenAPI schema is generated from these).

Every schema and property carries a description, and every closed set (lease state, end
reason, item type and status, carrier, send status) is an enum taken from ``leases.choices``,
so a client generated from the document knows every value it can meet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator, StrictBool

from ..choices import EndReason, ItemStatus, ItemType, LeaseState, SendStatus
from ..models import Message

# A tag is printable: no control characters (PostgreSQL refuses NUL in a text column).
TAG = r"^[^\x00-\x1f\x7f]{0,100}$"
# An Idempotency-Key: 1 to 200 visible ASCII characters (no spaces: HTTP trims them).
IDEMPOTENCY_KEY = r"^[!-~]{1,200}$"

DATETIME = (
    "An RFC 3339 date-time in UTC with milliseconds, e.g. 2026-05-01T08:30:12.345Z (the "
    "same format in webhook bodies)."
)
STATES: list[Any] = list(LeaseState.values)
# GET /leases?state=: a state, "active" (waiting or received), or empty (any); the states are
# LeaseState's values (a test holds them together).
StateFilter = Literal[
    "", "active", "waiting", "received", "releasing", "released", "expired", "blocked", "failed"
]
END_REASONS: list[Any] = ["", *EndReason.values]
SEND_STATUSES: list[Any] = list(SendStatus.values)


def _json_integer(value: Any) -> Any:
    """A JSON integer (8 or 8.0), not a string or a boolean that Python would convert."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# The body's types as the schema says: "1" is not a quantity, 0 is not a boolean.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def enum(values: list[Any]) -> dict[str, Any]:
    """A property's ``enum`` in the schema (values the server produces, from the choices)."""
    return {"enum": values}


class ErrorBody(Schema):
    """What went wrong."""

    code: str = Field(
        description=(
            "A stable, machine-readable code: invalid_request, idempotency_key_required, "
            "account_required, unauthorized, forbidden, not_found, method_not_allowed, "
            "refused, not_held, in_progress, ended, idempotency_key_reused, "
            "unsupported_media_type, rate_limited, ambiguous, upstream_unreachable, "
            "release_pending, server_error."
        ),
        examples=["not_found"],
    )
    message: str = Field(
        description=(
            "A sentence for people, in the language of Accept-Language (English or Chinese); "
            "an upstream refusal's own message verbatim."
        ),
        examples=["Not found."],
    )


class Error(Schema):
    """The one envelope of every error the API answers (4xx and 5xx)."""

    error: ErrorBody = Field(description="The error's code and message.")


class PriceTier(Schema):
    """One price step of an item: ``price`` per number for the ``low``-th to ``high``-th
    number leased (the upstream's tiers)."""

    price: str = Field(description="Price per number, a decimal in the upstream's currency.")
    low: int = Field(description="The first number (counted per account) this price covers.")
    high: int | None = Field(description="The last number it covers; null: all the rest.")

    @staticmethod
    def resolve_price(tier) -> str:
        return str(tier.price)


class Capabilities(Schema):
    """What an item's type allows."""

    max_per_request: int = Field(description="Numbers one lease request may ask for.")
    can_send: bool = Field(description="An SMS can be sent from the number (types 3 to 6).")
    sends_several: bool = Field(description="Several SMS can be sent (types 4 to 6).")
    several_sms: bool = Field(
        description=(
            "Several SMS can be received on one number (types 5 and 6): after each, "
            "POST /leases/{lease_id}/keep-waiting waits for the next."
        )
    )


class ItemOut(Schema):
    """An item (a service whose verification SMS can be received) of a developer account."""

    account: str = Field(description="The developer account's name in the console.")
    item: str = Field(description="The upstream's item id (digits).")
    name: str = Field(description="The item's name, as the upstream gives it.")
    type: int | None = Field(
        description=(
            "The upstream's item type: 1 one number per request, 2 several numbers, 3 can "
            "send one SMS, 4 can send several, 5 and 6 send and receive several; null when "
            "the upstream gave none this console knows."
        ),
        json_schema_extra=enum([*ItemType.values, None]),
    )
    status: int | None = Field(
        description=(
            "The upstream's item status: 1 normal, 2 expired, 3 another problem; null when "
            "the upstream gave none this console knows."
        ),
        json_schema_extra=enum([*ItemStatus.values, None]),
    )
    usable: bool = Field(description="Numbers can be leased for it now (status 1, not retired).")
    price_tiers: list[PriceTier] = Field(description="The price steps, lowest first.")
    capabilities: Capabilities = Field(description="What the item's type allows.")

    # Read from an ``Item`` row.
    @staticmethod
    def resolve_account(item) -> str:
        return item.account.name

    @staticmethod
    def resolve_item(item) -> str:
        return item.item_id

    @staticmethod
    def resolve_type(item) -> int | None:
        return item.type if item.type in ItemType.values else None

    @staticmethod
    def resolve_status(item) -> int | None:
        return item.status if item.status in ItemStatus.values else None

    @staticmethod
    def resolve_price_tiers(item) -> list:
        return item.tier_list()

    @staticmethod
    def resolve_capabilities(item):
        return item  # its max_per_request, can_send, sends_several, several_sms


class LeaseIn(Schema):
    """A lease request: numbers for one item."""

    item: str = Field(
        ...,
        min_length=1,
        max_length=32,
        pattern=r"^\d+$",
        description="The upstream's item id (see GET /items).",
        examples=["1001"],
    )
    account: str | None = Field(
        None,
        max_length=80,
        description=(
            "The developer account's name; required when the token reaches several accounts."
        ),
    )
    quantity: JsonInt = Field(
        1,
        ge=1,
        le=10,
        description="How many numbers (up to the item's max_per_request); 1 with `phone`.",
    )
    phone: str = Field(
        "",
        max_length=21,
        pattern=r"^(\+?\d{5,20})?$",
        description="Lease and lock this specific number; empty: any.",
    )
    area_code: str = Field(
        "",
        max_length=6,
        pattern=r"^(\d{2,6})?$",
        description="Only numbers of this area code (digits); empty: any.",
    )
    carrier: Literal["", "1", "2", "3"] = Field(
        "",
        description=(
            "Only this carrier: 1 China Mobile, 2 China Unicom, 3 China Telecom; empty: any."
        ),
    )
    international: StrictBool = Field(False, description="Numbers from outside mainland China.")
    tag: str = Field(
        "",
        max_length=100,
        pattern=TAG,
        description=(
            "Free text stored on every number of the request (no control characters), e.g. a "
            "CI run's id: GET /leases?tag= finds them, POST /leases/release?tag= releases them."
        ),
    )


class MessageOut(Schema):
    """A received SMS."""

    id: int = Field(description="The message's id; pass it as `after` to wait for a newer one.")
    text: str = Field(description="The SMS text, as the upstream gave it.")
    code: str = Field(description="The verification code found in the text; empty: none found.")
    candidates: list[str] = Field(description="Every code-like string found, best first.")
    received_at: datetime = Field(description="When the console stored it. " + DATETIME)

    @staticmethod
    def resolve_received_at(message) -> datetime:
        return message.created_at


class LeaseOut(Schema):
    """A leased number and where it stands."""

    id: int = Field(description="The lease's id.")
    phone: str = Field(description="The phone number.")
    account: str = Field(description="The developer account's name.")
    item: str = Field(description="The upstream's item id.")
    state: str = Field(
        description=(
            "waiting (for an SMS), received (one arrived; types 3 to 6 keep the number), "
            "releasing (a release is under way), then one of the final states: released, "
            "expired, blocked (blacklisted), failed."
        ),
        json_schema_extra=enum(STATES),
    )
    tag: str = Field(description="The request's tag.")
    code: str = Field(description="The latest code received; empty until one arrives.")
    member: str | None = Field(description="The console user who leased it.")
    token: str | None = Field(description="The name of the API token it was leased with.")
    leased_at: datetime = Field(description="When it was leased. " + DATETIME)
    received_at: datetime | None = Field(
        description="When the latest SMS arrived; null: none yet. " + DATETIME
    )
    ended_at: datetime | None = Field(
        description="When the lease ended; null while it holds the number. " + DATETIME
    )
    end_reason: str = Field(
        description=(
            "Why it ended (or will, once released); empty while it holds the number. user: "
            "released by a member; admin: in the admin; release_all: a manager's release "
            "all; blacklisted; code: released when the code arrived; deadline: before the "
            "upstream's forced release; wait_limit: no SMS within the item's wait limit; "
            "held: kept for the wait limit after the last SMS; lost: the upstream lost the "
            "SMS (status 3); timeout: the upstream timed out waiting (status 4); status: "
            "another upstream status; gone: the upstream released it by itself; recovered: "
            "released after an interrupted blacklisting; other: a reason stored as text."
        ),
        json_schema_extra=enum(END_REASONS),
    )

    # Read from a ``Lease`` row (with its item, account, user and token).
    @staticmethod
    def resolve_account(lease) -> str:
        return lease.account.name

    @staticmethod
    def resolve_item(lease) -> str:
        return lease.item.item_id

    @staticmethod
    def resolve_member(lease) -> str | None:
        return lease.user.get_username() if lease.user else None

    @staticmethod
    def resolve_token(lease) -> str | None:
        return lease.token.name if lease.token else None


class LeaseDetail(LeaseOut):
    """A lease with the SMS it received."""

    messages: list[MessageOut] = Field(description="The received SMS, oldest first.")

    @staticmethod
    def resolve_messages(lease) -> list:
        return list(lease.messages.filter(direction=Message.Direction.RECEIVED).order_by("id"))


class LeasesOut(Schema):
    """Leases."""

    leases: list[LeaseOut] = Field(description="The leases, in the order the operation says.")


class CodeOut(Schema):
    """The first received SMS newer than ``after``."""

    code: str = Field(description="The verification code found in it; empty: none found.")
    text: str = Field(description="The SMS text, as the upstream gave it.")
    message_id: int = Field(description="Its id: pass it as `after` to wait for the next one.")
    received_at: datetime = Field(description="When the console stored it. " + DATETIME)

    # Read from a ``Message`` row.
    @staticmethod
    def resolve_message_id(message) -> int:
        return message.pk

    @staticmethod
    def resolve_received_at(message) -> datetime:
        return message.created_at


class SendIn(Schema):
    """An SMS to send from the number."""

    text: str = Field(
        ...,
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00]*$",
        description="The SMS text (1 to 500 characters, no NUL).",
    )


class SendOut(Schema):
    """The SMS sent."""

    message_id: int = Field(description="The sent message's id.")
    text: str = Field(description="The text sent.")
    status: str = Field(
        description=(
            "Its delivery status: sending (the call is under way), unknown (its answer was "
            "lost: it may have been sent), sent, delivered, unconfirmed (the upstream's "
            "answer did not confirm it), received."
        ),
        json_schema_extra=enum(SEND_STATUSES),
    )


class SendStatusOut(Schema):
    """The upstream's answer on the last SMS sent from the number."""

    answer: str = Field(description="The upstream's answer, verbatim.")
    status: str = Field(
        description=(
            "The last sent message's delivery status after asking (see SendOut); empty: "
            "nothing was sent."
        ),
        json_schema_extra=enum(["", *SEND_STATUSES]),
    )


class ReleasedOut(Schema):
    """The outcome of releasing a run's numbers."""

    released: int = Field(description="Leases now ended.")
    retrying: int = Field(
        description="Leases whose release the upstream did not confirm: retried automatically."
    )
    leases: list[LeaseOut] = Field(description="The leases that were held under the tag.")
