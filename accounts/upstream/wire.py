"""Decoding and parsing of the Zhima upstream's response bodies.

The upstream document says only that "all interfaces return STRING format".
docs/upstream-api.md §11 settles what the client must accept without configuration; this
module is that decision, as pure functions with no Django import, so it can be tested and
fuzzed on its own.

Every body is first turned into a flat ``dict[str, str]`` under the upstream's canonical field
names (``parse_fields``); the per-endpoint readers then normalise the fields into typed results
and raise ``UnreadableResponse`` when a field that must come back is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote_plus

RAW_BODY_LIMIT = 2000
"""How much of a raw body an error or audit row keeps."""

# Canonical spellings of every field the upstream may send, keyed by their lower case.
CANONICAL = {
    name.lower(): name
    for name in (
        "valid",
        "leftQuantity",
        "msg",
        "name",
        "status",
        "price",
        "type",
        "phoneNos",
        "phoneNo",
        "sm",
        "itemId",
    )
}

_KV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?]")
BARE_TEXT_LIMIT = 500


class UnreadableResponse(Exception):
    """A body that fits no accepted form, or lacks a field that must come back."""

    def __init__(self, reason: str, raw: str | bytes = ""):
        self.reason = reason
        self.raw = truncate(raw if isinstance(raw, str) else decode_body(raw))
        super().__init__(reason)


def truncate(text: str, limit: int = RAW_BODY_LIMIT) -> str:
    """At most ``limit`` characters, NUL bytes shown as ``\\x00`` (no database text column
    takes them, and a raw body must be stored whatever it holds)."""
    if len(text) > limit:
        text = text[:limit] + f"…[{len(text) - limit} more characters]"
    return text.replace("\x00", "\\x00")


def decode_body(raw: bytes) -> str:
    """UTF-8 (BOM dropped) when valid, else GB18030 (a superset of GBK), else UTF-8 with
    replacement characters so that nothing raises."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace")


def _canonical(key: str) -> str:
    key = key.strip()
    return CANONICAL.get(key.lower(), key)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_json(text: str) -> dict[str, str] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        obj, _end = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return {_canonical(str(k)): _as_text(v).replace("\x00", "").strip() for k, v in obj.items()}


def _parse_kv(text: str) -> dict[str, str] | None:
    parts = [p for p in re.split(r"[&\r\n]+", text) if p.strip()]
    if not parts:
        return None
    fields: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not _KV_KEY.match(key.strip()):
            return None
        fields[_canonical(unquote_plus(key))] = unquote_plus(value).replace("\x00", "").strip()
    return fields


def parse_fields(raw: bytes | str) -> dict[str, str]:
    """Turn any accepted body form into ``{canonical field: text}``.

    Order of attempts: a JSON object (possibly after stray text such as a PHP notice), a
    query-string body, then a bare text read as ``msg``. Markup, control characters, an empty
    body or a body that starts like JSON but does not parse are unreadable.
    """
    text = decode_body(raw) if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    text = text.strip()
    if not text:
        raise UnreadableResponse("empty body", text)
    if "{" in text:
        fields = _parse_json(text)
        if fields is not None:
            return fields
        raise UnreadableResponse("malformed JSON body", text)
    if "=" in text:
        fields = _parse_kv(text)
        if fields is not None:
            return fields
    if _CONTROL.search(text) or _MARKUP.search(text) or len(text) > BARE_TEXT_LIMIT:
        raise UnreadableResponse("body is neither JSON, key=value nor a plain message", text)
    return {"msg": text}


# ---------------------------------------------------------------------------------------------
# Normalised fields


def parse_valid(value: str) -> bool | None:
    v = value.strip().lower()
    if v in {"y", "yes", "1", "true"}:
        return True
    if v in {"n", "no", "0", "false"}:
        return False
    return None


def parse_int(value: str) -> int | None:
    v = value.strip()
    if re.fullmatch(r"[+-]?\d+", v):
        return int(v)
    if re.fullmatch(r"[+-]?\d+\.0*", v):
        return int(v.split(".")[0])
    return None


def int_or_raw(value: str) -> int | str:
    """``status`` and ``type`` as integers; an unknown spelling is kept raw, never crashed on."""
    number = parse_int(value)
    return number if number is not None else value.strip()


def parse_phone_nos(value: str) -> list[str]:
    """Split on ``,`` ``;`` ``|`` and whitespace; keep digit strings with an optional ``+``."""
    out = []
    for token in re.split(r"[,;|\s，；]+", value):
        token = token.strip()
        if re.fullmatch(r"\+?\d{5,20}", token):
            out.append(token)
    return out


def is_ok(msg: str) -> bool:
    return msg.strip().upper() == "OK"


# What the send-status query answers while the SMS is on its way: a state, not an error.
SENDING_TEXTS = frozenset({"发送中", "正在发送", "SENDING"})


def is_sending(msg: str) -> bool:
    return msg.strip().upper() in SENDING_TEXTS


# ---------------------------------------------------------------------------------------------
# Price tiers


class PriceFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Tier:
    price: Decimal
    low: int
    high: int | None  # None: "all the rest"

    def covers(self, n: int) -> bool:
        return n >= self.low and (self.high is None or n <= self.high)


_TIER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[(（]\s*([^)）]*)\s*[)）]\s*$")


def parse_price(text: str) -> list[Tier]:
    """``0.1(10000), 0.01(10001-30000), 0.08(+)`` → three tiers.

    A bare number is the upper bound of a tier that starts after the previous one (the first
    starts at 1), ``a-b`` an inclusive range, ``+`` everything after the previous tier. A plain
    price with no range, such as ``0.5``, is one tier for every number.
    """
    text = (text or "").strip()
    if not text:
        raise PriceFormatError("empty price")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return [Tier(Decimal(text), 1, None)]
    tiers: list[Tier] = []
    for part in re.split(r"[,，]", text):
        if not part.strip():
            continue
        m = _TIER.match(part)
        if not m:
            raise PriceFormatError(f"cannot read price tier {part.strip()!r}")
        try:
            price = Decimal(m.group(1))
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
            raise PriceFormatError(str(exc)) from None
        span = m.group(2).replace(" ", "")
        prev_high = tiers[-1].high if tiers else 0
        if prev_high is None:
            raise PriceFormatError("a tier follows the open-ended '+' tier")
        if span == "+":
            low, high = prev_high + 1, None
        elif re.fullmatch(r"\d+", span):
            low, high = prev_high + 1, int(span)
        elif re.fullmatch(r"\d+-\d+", span):
            low, high = (int(x) for x in span.split("-"))
        else:
            raise PriceFormatError(f"cannot read price range {span!r}")
        if high is not None and high < low:
            raise PriceFormatError(f"empty price range {span!r}")
        tiers.append(Tier(price, low, high))
    if not tiers:
        raise PriceFormatError("no price tiers")
    return tiers


def unit_price(tiers: list[Tier], n: int) -> Decimal:
    """The price of the n-th number (1-based). Past the last closed tier, its price holds."""
    if not tiers:
        raise PriceFormatError("no price tiers")
    for tier in tiers:
        if tier.covers(n):
            return tier.price
    if n < tiers[0].low:
        return tiers[0].price
    return tiers[-1].price


def tiers_to_json(tiers: list[Tier]) -> list[dict[str, Any]]:
    return [{"price": str(t.price), "low": t.low, "high": t.high} for t in tiers]


def tiers_from_json(data: list[dict[str, Any]]) -> list[Tier]:
    return [Tier(Decimal(d["price"]), int(d["low"]), d["high"]) for d in data or []]


# ---------------------------------------------------------------------------------------------
# Typed results, one reader per endpoint


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    left_quantity: int | None
    msg: str = ""


@dataclass(frozen=True)
class ItemDetails:
    item_id: str
    status: int | str
    name: str = ""
    price: str = ""
    tiers: list[Tier] = field(default_factory=list)
    type: int | str | None = None
    msg: str = ""


@dataclass(frozen=True)
class SmsResult:
    status: int | str
    sm: str = ""
    msg: str = ""


def read_verify(fields: dict[str, str], raw: str = "") -> VerifyResult:
    if "valid" not in fields:
        raise UnreadableResponse("verification answer without 'valid'", raw)
    valid = parse_valid(fields["valid"])
    if valid is None:
        raise UnreadableResponse(f"unknown 'valid' value {fields['valid']!r}", raw)
    left = parse_int(fields.get("leftQuantity", ""))
    return VerifyResult(valid=valid, left_quantity=left, msg=fields.get("msg", ""))


def read_details(item_id: str, fields: dict[str, str], raw: str = "") -> ItemDetails:
    if "status" not in fields:
        raise UnreadableResponse("item details without 'status'", raw)
    price = fields.get("price", "")
    try:
        tiers = parse_price(price) if price else []
    except PriceFormatError:
        tiers = []  # The raw price is kept and shown; an odd price never breaks the item.
    type_ = int_or_raw(fields["type"]) if fields.get("type") else None
    return ItemDetails(
        item_id=item_id,
        status=int_or_raw(fields["status"]),
        name=fields.get("name", ""),
        price=price,
        tiers=tiers,
        type=type_,
        msg=fields.get("msg", ""),
    )


def read_sms(fields: dict[str, str], raw: str = "") -> SmsResult:
    """``status`` when given; a text without status counts as received (2)."""
    if "status" in fields and fields["status"] != "":
        return SmsResult(int_or_raw(fields["status"]), fields.get("sm", ""), fields.get("msg", ""))
    if fields.get("sm"):
        return SmsResult(2, fields["sm"], fields.get("msg", ""))
    if "msg" in fields:
        return SmsResult("", "", fields["msg"])
    raise UnreadableResponse("SMS answer without 'status', 'sm' or 'msg'", raw)


def read_msg(fields: dict[str, str], raw: str = "") -> str:
    if "msg" not in fields:
        raise UnreadableResponse("answer without 'msg'", raw)
    return fields["msg"]
