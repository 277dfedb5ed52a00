"""API tokens: issue one (shown once), find the member behind a presented one.

A token is ``zk_`` and 43 URL-safe characters (256 random bits); the database holds its
SHA-256. The member it authenticates carries the token as ``user.api_token``, which
``accounts.permissions`` reads to narrow the member's roles (accounts, read-only) and
``accounts.audit`` to name the token in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiToken

PREFIX = "zk_"
# last_used_at is written at most this often per token: a busy CI run must not turn every
# request into a write.
TOUCH_EVERY = timedelta(seconds=30)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(
    user, name: str, *, expires_at=None, read_only=False, accounts=()
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token in clear (never stored)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip()[:80],
            digest=digest(raw),
            prefix=raw[: len(PREFIX) + 6],
            expires_at=expires_at,
            read_only=read_only,
            limited=bool(accounts),
        )
        if accounts:
            token.accounts.set(accounts)
    return token, raw


def authenticate(raw: str):
    """The active member behind a usable token, with ``api_token`` set on it; else None."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(raw)).first()
    if token is None or not token.usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return _member(token)


def recheck(user):
    """The member behind ``user.api_token`` as the token stands now, or None once it is
    revoked or expired or the member deactivated. A long-poll asks again while it waits, so
    authority withdrawn mid-wait is withdrawn from the wait too."""
    token = getattr(user, "api_token", None)
    if token is None:
        return None
    token = ApiToken.objects.select_related("user").filter(pk=token.pk).first()
    if token is None or not token.usable or not token.user.is_active:
        return None
    return _member(token)


def _member(token: ApiToken):
    token.account_ids = list(token.accounts.values_list("pk", flat=True))
    user = token.user
    # Read back with getattr (accounts.permissions); Django's User declares no such attribute.
    user.api_token = token  # type: ignore[attr-defined]
    return user


def actor_name(user) -> str:
    """The audit log's actor: the member, and the token it acted through."""
    token = getattr(user, "api_token", None)
    name = user.get_username()
    return f"{name} · {token.name}"[:150] if token is not None else name
