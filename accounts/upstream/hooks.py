"""What the client reports each call to (the audit hook) and keeps its session in (the session
store): the interfaces the console implements (``accounts.audit``, ``accounts.session_store``)
without importing the client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AuditEvent:
    endpoint: str
    params: dict[str, str]
    outcome: str  # pending, then ok | refused | transport | unreadable
    http_status: int | None = None
    latency_ms: int = 0
    msg: str = ""
    raw_body: str = ""
    context: Any = None
    phones: list[str] = field(default_factory=list)  # the numbers a get-numbers call leased
    ticket: Any = None  # the hook's handle on the record it wrote for the pending call


AuditHook = Callable[[AuditEvent], None]
PENDING = "pending"


class SessionStore:
    """Where the session cookie and its verification time live. This default keeps them in
    the client; the Django side can share them between worker processes."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.verified_at: float | None = None

    def load(self) -> tuple[dict[str, str], float | None]:
        return dict(self.cookies), self.verified_at

    def save(self, cookies: dict[str, str], verified_at: float | None) -> None:
        self.cookies, self.verified_at = dict(cookies), verified_at
