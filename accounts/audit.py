"""The audit hook that writes ``ApiCall``: every upstream call of a stored account, written ahead.

A *pending* row is committed before each request is sent and completed with the outcome after
it (the one change an audit row ever sees), so a worker killed mid-call leaves a row whose
outcome is unknown rather than no row. ``settle_abandoned_calls`` marks such rows ``unknown``
once no answer can still come. The clients that call the hook are built by
``accounts.registry``.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .metrics import call_tallies
from .models import ApiCall, Outcome, Tally
from .tokens import actor_name
from .upstream.hooks import PENDING, AuditEvent


@dataclass
class CallContext:
    """Who makes a call and about what; carried by every client call into the audit row.

    ``buffer``: when a list, the completed audit rows are appended to it for the caller to
    write in bulk (the poller does this from its HTTP threads); otherwise each row is written
    at once. ``tickets``: pending rows the caller already wrote, by endpoint (the poller
    reserves one ``get_sms`` row per claimed lease in one insert); a request without a ticket
    gets its pending row written on the spot.
    """

    actor: str
    user_id: int | None = None
    lease_id: int | None = None
    phone: str = ""
    lease_request_id: int | None = None
    buffer: list | None = field(default=None, repr=False)
    tickets: dict[str, int] | None = field(default=None, repr=False)

    @classmethod
    def for_user(cls, user, **kw) -> CallContext:
        return cls(actor=actor_name(user), user_id=user.pk, **kw)

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
    id: int | None = None  # the pending row this completes


PHONES_MAX = 2000


def audit_row(account_id: int, event: AuditEvent) -> CallRow:
    ctx = event.context if isinstance(event.context, CallContext) else CallContext("unknown")
    # The numbers the call concerns, whole: one, or all that a batch leased or released
    # (comma-separated; ``ApiCall.objects.about_number`` finds a call by any of them).
    phone = (ctx.phone or event.params.get("phoneNo", "") or ",".join(event.phones))[:PHONES_MAX]
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
        event.ticket,
    )


_FIELDS = [f.name for f in fields(CallRow) if f.name != "id"]
# What the answer adds to a pending row (parameters, actor and lease were known before).
_DONE = ["http_status", "latency_ms", "outcome", "msg", "raw_body", "phone"]
_CHUNK = 500  # rows per INSERT: well inside SQLite's and PostgreSQL's parameter limits
ABANDONED_MSG = "no outcome recorded: the process stopped during the call"
_sql_cache: dict[tuple, str] = {}


def _values(row: CallRow, names) -> list:
    adapt_time = connection.ops.adapt_datetimefield_value
    out = []
    for name in names:
        value = getattr(row, name)
        if name == "created_at":
            value = adapt_time(value)
        elif name == "params":
            value = json.dumps(value, ensure_ascii=False)
        out.append(value)
    return out


def _sql(kind: str, rows: int = 1) -> str:
    """The statement of ``kind`` for this database, built once (quoting, column names)."""
    key = (connection.vendor, kind, rows)
    sql = _sql_cache.get(key)
    if sql is None:
        q = connection.ops.quote_name
        # _FIELDS are concrete fields: each has a column (get_field may also name a relation).
        col = lambda n: q(ApiCall._meta.get_field(n).column)  # type: ignore[union-attr,arg-type]  # noqa: E731
        table = q(ApiCall._meta.db_table)
        if kind.startswith("insert"):
            marks = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"
            sql = (
                f"INSERT INTO {table} ({', '.join(col(n) for n in _FIELDS)}) "  # noqa: S608
                f"VALUES {', '.join([marks] * rows)}"
            ) + (" RETURNING id" if kind == "insert" else "")
        elif kind == "complete":
            sets = ", ".join(f"{col(n)} = %s" for n in _DONE)
            sql = f"UPDATE {table} SET {sets} WHERE id = %s AND outcome = %s"  # noqa: S608
        else:
            marks = ", ".join(["%s"] * rows)
            sql = (
                f"UPDATE {table} SET outcome = %s, msg = %s "  # noqa: S608 - no user input
                f"WHERE id IN ({marks}) AND outcome = %s"
            )
        _sql_cache[key] = sql
    return sql


def insert_calls(rows: list[CallRow]) -> list[int]:
    """Insert audit rows with plain multi-row INSERTs and return their ids, in order: the
    audit log is on the path of every upstream call, and the ORM's per-object work would cost
    more than the database does. (Both engines return RETURNING rows in VALUES order, which
    Django's own bulk_create relies on too.)"""
    ids: list[int] = []
    with connection.cursor() as cur:
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            cur.execute(
                _sql("insert", len(chunk)), [v for row in chunk for v in _values(row, _FIELDS)]
            )
            ids.extend(r[0] for r in cur.fetchall())
    return ids


def _insert_one(row: CallRow) -> int:
    """One row, on the path of every single call: SQLite gives the id without RETURNING."""
    if connection.vendor != "sqlite":
        return insert_calls([row])[0]
    with connection.cursor() as cur:
        cur.execute(_sql("insert-one"), _values(row, _FIELDS))
        return cur.lastrowid


def write_calls(rows: list[CallRow]) -> None:
    """Complete the pending rows among ``rows`` with their outcome (only a row still pending
    changes) and insert the others."""
    pending = [[*_values(r, _DONE), r.id, Outcome.PENDING] for r in rows if r.id is not None]
    if len(pending) == 1:
        with connection.cursor() as cur:
            cur.execute(_sql("complete"), pending[0])
    elif pending:
        with connection.cursor() as cur:
            cur.executemany(_sql("complete"), pending)
    fresh = [r for r in rows if r.id is None]
    if fresh:
        insert_calls(fresh)


def reserve_calls(rows: list[CallRow]) -> list[int]:
    """Write pending rows for calls about to be made; their ids are the calls' tickets."""
    for row in rows:
        row.outcome = Outcome.PENDING
    return insert_calls(rows)


def abandoned_after() -> float:
    """Seconds after which a pending row's call can no longer complete: three times the
    longest call (``/metrics`` shows it beside the oldest pending row's age)."""
    longest = max(settings.ZHIMA_READ_TIMEOUT, settings.ZHIMA_LEASE_READ_TIMEOUT)
    return max(60.0, 3 * (settings.ZHIMA_CONNECT_TIMEOUT + longest))


def settle_abandoned_calls(now=None) -> int:
    """Mark the pending rows no answer can complete any more (their process was killed
    mid-call) as ``unknown``: the request may or may not have reached the upstream."""
    cutoff = (now or timezone.now()) - timedelta(seconds=abandoned_after())
    stale = list(
        ApiCall.objects.filter(outcome=Outcome.PENDING, created_at__lt=cutoff).values_list(
            "id", "endpoint"
        )[:1000]
    )
    if not stale:
        return 0
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            _sql("settle", len(stale)),
            [Outcome.UNKNOWN, ABANDONED_MSG, *(i for i, _ in stale), Outcome.PENDING],
        )
        settled = cur.rowcount
        counts: dict[str, int] = defaultdict(int)
        for _, endpoint in stale:
            counts[f"calls|{endpoint}|{Outcome.UNKNOWN}"] += 1
        Tally.bump(counts)
    return settled


class DbAudit:
    """The client's audit hook for one stored account: a pending row before each request,
    completed after it."""

    def __init__(self, account_id: int):
        self.account_id = account_id

    def __call__(self, event: AuditEvent) -> None:
        ctx = event.context
        buffered = isinstance(ctx, CallContext) and ctx.buffer is not None
        if event.outcome == PENDING:
            tickets = ctx.tickets if isinstance(ctx, CallContext) else None
            if tickets and event.endpoint in tickets:
                event.ticket = tickets.pop(event.endpoint)
                return
            event.ticket = _insert_one(audit_row(self.account_id, event))
            if buffered and threading.current_thread() is not threading.main_thread():
                connection.close()  # a poller's HTTP thread: keep no connection open
            return
        row = audit_row(self.account_id, event)
        if buffered:
            ctx.buffer.append(row)
        else:
            with transaction.atomic():  # one commit for the row and its totals
                write_calls([row])
                Tally.bump(call_tallies([row]))
