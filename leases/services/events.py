"""The lease timeline's rows, shared by every service module."""

from __future__ import annotations

from typing import Any

from ..models import LeaseEvent


def event(
    lease_id: int,
    kind: str,
    actor: str = "",
    detail: str = "",
    reason: str = "",
    params: dict[str, Any] | None = None,
) -> LeaseEvent:
    """A timeline row: ``kind`` and ``reason`` are codes, translated when shown; ``detail``
    is kept verbatim (a code, an item id, a sent text)."""
    return LeaseEvent(
        lease_id=lease_id,
        kind=kind,
        actor=actor[:150],
        detail=detail[:300],
        reason=reason,
        params=params or {},
    )
