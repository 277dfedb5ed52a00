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

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import ApiToken
from .permissions import one

PREFIX = "zk_"
# last_used_at is written at most this often per token: a busy CI run must not turn every
# request into a write.
TOUCH_EVERY = timedelta(seconds=30)


class NameTaken(ValueError):
    """The member already has a token of that name (revoked ones keep theirs)."""


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(
    user, name: str, *, expires_at=None, read_only=False, accounts=()
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token in clear (never stored).

    A member's token names are unique, revoked tokens included, so that a name (and the audit
    actor "member · name") always means one token; a taken name raises ``NameTaken``."""
    raw = PREFIX + secrets.token_urlsafe(32)
    name = name.strip()[:80]
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                digest=digest(raw),
                prefix=raw[: len(PREFIX) + 6],
                expires_at=expires_at,
                read_only=read_only,
                limited=bool(accounts),
            )
            if accounts:
                token.accounts.set(accounts)
    except IntegrityError:
        if ApiToken.objects.filter(user=user, name=name).exists():
            raise NameTaken(name) from None
        raise
    return token, raw


def one_of(user, which: str) -> ApiToken | None:
    """The member's one token named ``which``, or whose prefix it is (``zk_AbC123`` or with
    its trailing ``…``); None when there is none or the prefix fits several."""
    which = which.strip().rstrip("…")
    mine = ApiToken.objects.filter(user=user)
    found = mine.filter(name=which).first()
    if found is None and which.startswith(PREFIX) and len(which) > len(PREFIX):
        fits = list(mine.filter(prefix__startswith=which)[:2])
        found = fits[0] if len(fits) == 1 else None
    return found


def revoke(token: ApiToken) -> bool:
    """Revoke one token; False when it already was."""
    done = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    return bool(done)


def among(tokens: QuerySet[ApiToken], which: str) -> list[ApiToken]:
    """The tokens of ``tokens`` that ``which`` names: "member · name", a prefix, or a name
    (several members may each have a token of one name: the caller asks which one)."""
    which = which.strip().rstrip("…")
    member, sep, name = which.partition(" · ")
    if sep:
        q = Q(user__username=member.strip(), name=name.strip())
    elif which.startswith(PREFIX) and len(which) > len(PREFIX):
        q = Q(prefix__startswith=which) | Q(name=which)
    else:
        q = Q(name=which)
    return list(tokens.filter(q).select_related("user").distinct()[:10])


def authenticate(raw: str):
    """The active member behind a usable token, with ``api_token`` set on it; else None."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = one(ApiToken.objects.select_related("user").filter(digest=digest(raw)))
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
    token = one(ApiToken.objects.select_related("user").filter(pk=token.pk))
    if token is None or not token.usable or not token.user.is_active:
        return None
    return _member(token)


def _member(token: ApiToken):
    # The accounts narrow a limited token only (accounts.permissions): an unlimited one needs
    # no query for them.
    token.account_ids = list(token.accounts.values_list("pk", flat=True)) if token.limited else []
    user = token.user
    # Read back with getattr (accounts.permissions); Django's User declares no such attribute.
    user.api_token = token  # type: ignore[attr-defined]
    return user


def actor_name(user) -> str:
    """The audit log's actor: the member, and the token it acted through."""
    token = getattr(user, "api_token", None)
    return token_actor(user, token) if token is not None else user.get_username()


def token_actor(user, token: ApiToken) -> str:
    """The actor of the calls made through ``token``: "member · name", one token only (a
    member's token names are unique)."""
    return f"{user.get_username()} · {token.name}"[:150]
