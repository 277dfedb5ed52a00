"""What one API token may hold and spend: at most ``ZHIMA_API_MAX_WAITS_PER_TOKEN`` concurrent
``/code`` waits, and ``ZHIMA_API_LEASES_PER_MINUTE`` lease and send requests a minute
(``rate_limit``).

The waits are counted in the shared cache (Redis with ``REDIS_URL``, so every web process
counts together) as numbered slots, ``api-wait:<token>:<n>``, each taken with ``add``. A slot
expires ``SLOT_MARGIN`` seconds after its wait would have ended, so a web process that dies
mid-wait cannot keep one for longer. ``add`` is atomic across processes on both shared caches
(Redis, and the embedded default's ``zhima_site.cache``), so two waits never take one slot.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from .errors import ApiError

# How long a slot outlives its wait (seconds): the wait's last look and its answer fit in it.
SLOT_MARGIN = 30


@dataclass(frozen=True)
class Slot:
    key: str
    owner: str


def _keys(token_pk: int, limit: int) -> list[str]:
    return [f"api-wait:{token_pk}:{n}" for n in range(limit)]


def take_wait_slot(token_pk: int, seconds: float) -> Slot | None:
    """A slot for one wait of ``seconds``, or a 429 with ``Retry-After`` (when the first of
    the held waits ends at the latest) when the token holds its cap. None: no cap."""
    limit = settings.ZHIMA_API_MAX_WAITS_PER_TOKEN
    if limit <= 0:
        return None
    now = time.time()
    keys = _keys(token_pk, limit)
    owner = uuid.uuid4().hex
    value = {"owner": owner, "until": now + seconds}
    held = cache.get_many(keys)
    for key in keys:
        if key not in held and cache.add(key, value, math.ceil(seconds) + SLOT_MARGIN):
            return Slot(key, owner)
    ends = [v["until"] for v in held.values() if isinstance(v, dict) and "until" in v]
    # From now, not from the start of this call: a wait that took its slot meanwhile ends later.
    retry = max(1, math.ceil(min(ends) - time.time())) if ends else 1
    raise ApiError(
        429,
        "too_many_waits",
        _("This token already holds %(n)s waiting requests; retry in %(s)s s.")
        % {"n": limit, "s": retry},
        {"Retry-After": str(retry)},
    )


def give_back(slot: Slot | None) -> None:
    """Free the slot, unless it expired and another wait holds it now."""
    if slot is None:
        return
    with contextlib.suppress(Exception):  # the slot expires by itself anyway
        held = cache.get(slot.key)
        if isinstance(held, dict) and held.get("owner") == slot.owner:
            cache.delete(slot.key)


def rate_limit(request) -> None:
    """``ZHIMA_API_LEASES_PER_MINUTE`` lease and send requests per token in a minute that
    starts with the token's first request (in the shared cache, so every web process counts
    together)."""
    limit = settings.ZHIMA_API_LEASES_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    pk = request.auth.api_token.pk
    cache.add(f"api-rate:{pk}", now, 60)
    start = cache.get(f"api-rate:{pk}") or now
    key = f"api-rate:{pk}:{start:.6f}"
    cache.add(key, 0, 61)
    try:
        n = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 61)
        n = 1
    if n > limit:
        retry = max(1, math.ceil(start + 60 - now))
        raise ApiError(
            429,
            "rate_limited",
            _("Too many lease and send requests for this token (%(n)s a minute); retry in %(s)s s.")
            % {"n": limit, "s": retry},
            {"Retry-After": str(retry)},
        )
