"""The API's request and response bodies (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

# A tag is printable: no control characters (PostgreSQL refuses NUL in a text column).
TAG = r"^[^\x00-\x1f\x7f]{0,100}$"


class ErrorBody(Schema):
    code: str
    message: str


class Error(Schema):
    error: ErrorBody


class PriceTier(Schema):
    price: str
    low: int
    high: int | None


class Capabilities(Schema):
    max_per_request: int
    can_send: bool
    sends_several: bool
    several_sms: bool


class ItemOut(Schema):
    account: str
    item: str
    name: str
    type: int | None
    status: int | None
    usable: bool
    price_tiers: list[PriceTier]
    capabilities: Capabilities


class LeaseIn(Schema):
    item: str = Field(..., min_length=1, max_length=32, pattern=r"^\d+$")
    account: str | None = Field(None, max_length=80)
    quantity: int = Field(1, ge=1, le=10)
    phone: str = Field("", max_length=21, pattern=r"^(\+?\d{5,20})?$")
    area_code: str = Field("", max_length=6, pattern=r"^(\d{2,6})?$")
    carrier: str = Field("", pattern=r"^[123]?$")
    international: bool = False
    tag: str = Field("", max_length=100, pattern=TAG)


class MessageOut(Schema):
    id: int
    text: str
    code: str
    candidates: list[str]
    received_at: datetime


class LeaseOut(Schema):
    id: int
    phone: str
    account: str
    item: str
    state: str
    tag: str
    code: str
    member: str | None
    token: str | None
    leased_at: datetime
    received_at: datetime | None
    ended_at: datetime | None
    end_reason: str


class LeaseDetail(LeaseOut):
    messages: list[MessageOut]


class LeasesOut(Schema):
    leases: list[LeaseOut]


class CodeOut(Schema):
    code: str
    text: str
    message_id: int
    received_at: datetime


class SendIn(Schema):
    text: str = Field(..., min_length=1, max_length=500, pattern=r"^[^\x00]*$")


class SendOut(Schema):
    message_id: int
    text: str
    status: str


class SendStatusOut(Schema):
    answer: str
    status: str


class ReleasedOut(Schema):
    released: int
    retrying: int
    leases: list[LeaseOut]
