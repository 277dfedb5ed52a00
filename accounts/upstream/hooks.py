"""What the client reports each call to (the audit hook), keeps its session in (the session
store) and wraps its waits for an answer in (``network_wait``): the interfaces the console
implements (``accounts.audit``, ``accounts.session_store``, ``zhima_site.admission``) without
importing the client."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
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

# Wrapped around each wait for the upstream's answer, process-wide: the web server sets it so
# that another request runs meanwhile (``zhima_site.admission``); by default it does nothing.
network_wait: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext


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
