"""Where a client keeps its upstream session: the cookie and its verification time live in
Django's cache, so that several worker processes on Redis share one upstream session instead
of each verifying on its own."""

from __future__ import annotations

from django.core.cache import cache

from .upstream.hooks import SessionStore


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
