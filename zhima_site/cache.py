"""The embedded default's shared cache: ``diskcache``'s Django cache, one SQLite store per shard
in ``CACHE_DIR``.

The web server and every worker process on the machine share it (upstream sessions, the API's
stored answers, wait slots and rate counters). Its ``add`` and ``incr`` are atomic across
processes, and it evicts by size only (1 GB by default), never a live entry because a count was
reached. The directory is kept to the owner (0700): it holds upstream session cookies.
"""

from __future__ import annotations

import os

from diskcache import DjangoCache


class PrivateDiskCache(DjangoCache):
    def __init__(self, directory: str, params: dict) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        super().__init__(directory, params)
