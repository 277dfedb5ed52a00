"""The lease timeline's rows, shared by every service module."""

from __future__ import annotations

from ..models import LeaseEvent


def event(lease_id: int, kind: str, actor: str = "", detail: str = "") -> LeaseEvent:
    return LeaseEvent(lease_id=lease_id, kind=kind, actor=actor[:150], detail=detail[:300])
