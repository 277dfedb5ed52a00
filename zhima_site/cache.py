"""The embedded default's shared cache: ``diskcache``'s Django cache, SQLite stores in
``CACHE_DIR``.

The web server and every worker process on the machine share it (upstream sessions, the API's
stored answers, wait slots and rate counters). Its ``add`` and ``incr`` are atomic across
processes, and it evicts by size only (1 GB by default), never a live entry because a count of
entries was reached. The directory is kept to the owner (0700): it holds upstream session
cookies.

Django makes a cache object per thread and, under ASGI, per request, and closes it when the
request ends; opening the stores each time (eight SQLite files) would cost more than the
request. So each process opens them once and every cache object shares them, with one SQLite
connection per thread kept for the thread's life (``diskcache`` reconnects after a fork).
"""

from __future__ import annotations

import os
import threading

from diskcache import DjangoCache, FanoutCache
from django.core.cache.backends.base import BaseCache

_stores: dict[tuple[str, int], FanoutCache] = {}
_lock = threading.Lock()


def _store(directory: str, params: dict) -> FanoutCache:
    key = (os.path.abspath(directory), os.getpid())
    with _lock:
        store = _stores.get(key)
        if store is None:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
            store = _stores[key] = FanoutCache(
                directory,
                params.get("SHARDS", 8),
                params.get("DATABASE_TIMEOUT", 0.010),
                **params.get("OPTIONS", {}),
            )
        return store


class PrivateDiskCache(DjangoCache):
    def __init__(self, directory: str, params: dict) -> None:
        BaseCache.__init__(self, params)
        self._cache = _store(directory, params)

    def close(self, **kwargs) -> None:
        """Kept open: the stores are the process's, not the request's."""
