"""Upstream clients for stored developer accounts, and the audit hook that writes ``ApiCall``.

One client per developer account per process (pooled connections, one cookie jar). The session
cookie and its verification time live in Django's cache, so that several worker processes on
Redis share one upstream session instead of each verifying on its own.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field, fields

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from .models import ApiCall, DeveloperAccount, Tally
from .upstream.client import AuditEvent, SessionStore, ZhimaClient


@dataclass
class CallContext:
    """Who makes a call and about what; carried by every client call into the audit row.

    ``buffer``: when a list, the audit rows are appended to it for the caller to write in bulk
    (the poller does this from its HTTP threads); otherwise each row is written at once.
    """

    actor: str
    user_id: int | None = None
    lease_id: int | None = None
    phone: str = ""
    lease_request_id: int | None = None
    buffer: list | None = field(default=None, repr=False)

    @classmethod
    def for_user(cls, user, **kw) -> CallContext:
        return cls(actor=user.get_username(), user_id=user.pk, **kw)

    @classmethod
    def for_task(cls, name: str, **kw) -> CallContext:
        return cls(actor=f"task:{name}", **kw)


@dataclass(slots=True)
class CallRow:
    """One audit row on its way to the database: a plain record, not a model instance (the
    poller writes hundreds a second, and building models would cost more than storing)."""

    created_at: object
    account_id: int
    actor: str
    user_id: int | None
    endpoint: str
    params: dict
    http_status: int | None
    latency_ms: int
    outcome: str
    msg: str
    raw_body: str
    lease_id: int | None
    lease_request_id: int | None
    phone: str


def audit_row(account_id: int, event: AuditEvent) -> CallRow:
    ctx = event.context if isinstance(event.context, CallContext) else CallContext("unknown")
    # The number the call concerns; for a lease, the first number it leased (the raw body
    # keeps them all).
    phone = (ctx.phone or event.params.get("phoneNo", "") or ",".join(event.phones))[:32]
    return CallRow(
        timezone.now(),
        account_id,
        ctx.actor[:150],
        ctx.user_id,
        event.endpoint,
        event.params,
        event.http_status,
        event.latency_ms,
        event.outcome,
        event.msg[:2000],
        event.raw_body,
        ctx.lease_id,
        ctx.lease_request_id,
        phone,
    )


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LATE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def _bucket(value: float, buckets) -> str:
    for le in buckets:
        if value <= le:
            return str(le)
    return "+Inf"


def call_tallies(rows) -> dict[str, int]:
    """Running totals for the metrics: calls by endpoint and outcome, latency histogram."""
    out: dict[str, int] = defaultdict(int)
    for row in rows:
        out[f"calls|{row.endpoint}|{row.outcome}"] += 1
        out[f"latency|{row.endpoint}|{_bucket(row.latency_ms / 1000, LATENCY_BUCKETS)}"] += 1
        out[f"latency_sum_ms|{row.endpoint}"] += row.latency_ms
    return out


def lateness_tallies(seconds: list[float]) -> dict[str, int]:
    """How late polls start against their cadence, as a histogram."""
    out: dict[str, int] = defaultdict(int)
    for late in seconds:
        out[f"poll_late|{_bucket(max(late, 0), LATE_BUCKETS)}"] += 1
        out["poll_late_sum_ms"] += int(max(late, 0) * 1000)
    return out


_FIELDS = [f.name for f in fields(CallRow)]


def insert_calls(rows: list[CallRow]) -> None:
    """Insert audit rows with one plain INSERT: the audit log is on the path of every upstream
    call, and the ORM's per-object work would cost more than the database does."""
    if not rows:
        return
    meta = ApiCall._meta
    table = connection.ops.quote_name(meta.db_table)
    cols = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in _FIELDS)
    marks = ", ".join(["%s"] * len(_FIELDS))
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608 - no user input
    adapt_time = connection.ops.adapt_datetimefield_value
    params = [
        (
            adapt_time(r.created_at),
            r.account_id,
            r.actor,
            r.user_id,
            r.endpoint,
            json.dumps(r.params, ensure_ascii=False),
            r.http_status,
            r.latency_ms,
            r.outcome,
            r.msg,
            r.raw_body,
            r.lease_id,
            r.lease_request_id,
            r.phone,
        )
        for r in rows
    ]
    with connection.cursor() as cur:
        cur.executemany(sql, params)


class DbAudit:
    """The client's audit hook for one stored account."""

    def __init__(self, account_id: int):
        self.account_id = account_id

    def __call__(self, event: AuditEvent) -> None:
        row = audit_row(self.account_id, event)
        ctx = event.context
        if isinstance(ctx, CallContext) and ctx.buffer is not None:
            ctx.buffer.append(row)
        else:
            insert_calls([row])
            Tally.bump(call_tallies([row]))


class CacheSessionStore(SessionStore):
    def __init__(self, account_id: int):
        super().__init__()
        self.key = f"zhima:session:{account_id}"

    def load(self):
        data = cache.get(self.key)
        if not data:
            return {}, None
        return dict(data["cookies"]), data["verified_at"]

    def save(self, cookies, verified_at):
        if verified_at is None:
            cache.delete(self.key)
        else:
            cache.set(self.key, {"cookies": cookies, "verified_at": verified_at}, 15 * 60)


_clients: dict[int, tuple[tuple, ZhimaClient]] = {}
_lock = threading.Lock()


def client_for(account: DeveloperAccount) -> ZhimaClient:
    """The process's client for ``account``; rebuilt when its URL or key changes.

    Raises ``crypto.SecretUnreadable`` when the pkey cannot be decrypted: nothing is sent.
    """
    fingerprint = (account.effective_base_url, account.upstream_account, account.pkey_encrypted)
    with _lock:
        cached = _clients.get(account.pk)
        if cached and cached[0] == fingerprint:
            return cached[1]
        client = ZhimaClient(
            account.effective_base_url,
            account.upstream_account,
            account.get_pkey(),
            connect_timeout=settings.ZHIMA_CONNECT_TIMEOUT,
            read_timeout=settings.ZHIMA_READ_TIMEOUT,
            audit=DbAudit(account.pk),
            session_store=CacheSessionStore(account.pk),
            pool_size=max(settings.ZHIMA_POLL_CONCURRENCY, 8),
            proxy=settings.ZHIMA_HTTP_PROXY,
        )
        if cached:
            cached[1].close()
        _clients[account.pk] = (fingerprint, client)
        return client


def forget_clients() -> None:
    with _lock:
        for _, client in _clients.values():
            client.close()
        _clients.clear()
