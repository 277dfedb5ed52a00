"""One watcher per web process for the long-polls: waiting costs nothing per waiter.

A waiting ``/code`` request registers an ``asyncio.Event`` under its lease id and sleeps on it;
it holds no thread and runs no query while it waits. The watcher, one task per event loop
(one per web process), learns of changes once for all waiters and sets the events of the
leases they concern; each woken waiter then reads its lease once.

How it learns: every change a waiter cares about (an SMS stored, a lease ended) writes a
``LeaseEvent`` row in the same transaction, so one indexed range query on its primary key —
``id > last seen`` — serves every waiter. It runs when something may have changed:

- On SQLite (the embedded default) the watcher waits on a ``Bell`` (``leases.api.bell``), a
  file beside the database that whoever stores an SMS or ends a lease touches once the
  transaction has committed (``ring_bell``, a receiver of ``leases.signals``), in any process;
  the kernel (inotify) tells the watcher at once. A ring is a query. Every second it also
  reads the database's change counter (``PRAGMA data_version``, a few microseconds on a
  connection of its own) and queries if anything was committed since its last look: the
  backstop, should a bell be missed. Where there is no bell (not Linux) it reads the counter
  every interval instead.
- With ``REDIS_URL`` the poller also publishes each stored SMS after its commit
  (``leases.signals.message_received`` → ``publish``) and the watcher subscribes, so a code
  wakes its waiter at once and the query runs every second as a backstop (and for ends).
- Otherwise (PostgreSQL without Redis) it queries every interval.

The watcher runs while someone waits and, where changes are announced (a bell, Redis),
``LINGER_SECONDS`` after the last waiter left: a suite whose tests wait one after another keeps
one watcher, whose every start would send the waiters back to the database (a start wakes them
all: see ``_run``).

Database work of the API's async views runs on a small pool of its own (``db``): a waiting
request keeps no connection, and a slow synchronous request elsewhere cannot delay a wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection

from . import bell as bells
from .bell import Bell

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_threads: set[threading.Thread] = set()
_pool_lock = threading.Lock()

# How long an id stays re-read: on PostgreSQL two transactions may commit out of id order,
# so the range query looks this far back and remembers what it already reported.
LOOKBACK_SECONDS = 2.0
# With a bell or Redis telling the watcher of changes, it still looks this often (a lost
# publication, a change whose writer did not ring).
BACKSTOP_SECONDS = 1.0
# Under a stream of rings, the watcher looks no more often than this.
RING_GAP_SECONDS = 0.02
# How long the watcher outlives its last waiter.
LINGER_SECONDS = 5.0


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(settings.ZHIMA_API_DB_THREADS, thread_name_prefix="api-db")
        return _pool


def _call(fn, args, kwargs):
    _pool_threads.add(threading.current_thread())
    try:
        return fn(*args, **kwargs)
    except DatabaseError:
        connection.close()  # a broken connection is not reused; the next call reconnects
        raise


async def db(fn, *args, **kwargs):
    """Run ``fn`` (ORM code) on the API's database pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), partial(_call, fn, args, kwargs))


def close_db_connections() -> None:
    """Close the pool's connections (tests, before the test database is dropped)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return

    def close():
        connection.close()

    futures = [pool.submit(close) for _ in range(settings.ZHIMA_API_DB_THREADS * 2)]
    for f in futures:
        f.result()
    pool.shutdown(wait=True)
    _pool_threads.clear()


# -- reading the event log ---------------------------------------------------------------------


def _last_event_id() -> int:
    from leases.models import LeaseEvent

    return LeaseEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_after(floor: int) -> list[tuple[int, int]]:
    from leases.models import LeaseEvent

    return list(
        LeaseEvent.objects.filter(id__gt=floor).order_by("id").values_list("id", "lease_id")[:5000]
    )


def sqlite_file() -> str | None:
    """The default database's file when it is SQLite on a file (not in memory)."""
    db = connection.settings_dict
    name = str(db.get("NAME") or "")
    if not db["ENGINE"].endswith("sqlite3") or name in ("", ":memory:") or "mode=memory" in name:
        return None
    return name


def ring_bell(sender=None, **kwargs) -> None:
    """``message_received`` and ``lease_ended`` receiver (connected without ``REDIS_URL``):
    ring the watchers' bell beside the SQLite database, once the change has committed."""
    name = sqlite_file()
    if name is not None:
        bells.ring(name)


class ChangeCounter:
    """SQLite's ``PRAGMA data_version`` on a connection of the watcher's own: it changes once
    another connection (a poller in another process included) commits. Any doubt (no file, a
    locked or unreadable database) counts as a change, so the watcher queries as before. It
    runs on the event loop, so it never waits for a lock: a locked database answers at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.con: sqlite3.Connection | None = None
        self.last: int | None = None

    @classmethod
    def for_default_database(cls) -> ChangeCounter | None:
        name = sqlite_file()
        return None if name is None else cls(name)

    def changed(self) -> bool:
        try:
            if self.con is None:
                uri = Path(self.path).resolve().as_uri() + "?mode=rw"  # never creates one
                self.con = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False)
            version = self.con.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self.close()
            return True
        changed, self.last = version != self.last, version
        return changed

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(sqlite3.Error):
                self.con.close()
        self.con, self.last = None, None


# -- Redis ---------------------------------------------------------------------------------------


def channel() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "") or "zhima"
    return f"{prefix}:lease-events"


_redis = None


def publish(sender=None, lease_id: int = 0, **kwargs) -> None:
    """``message_received`` receiver (connected when ``REDIS_URL`` is set): tell the web
    processes' watchers. Losing one is harmless: the backstop query finds the row."""
    global _redis
    import redis

    if _redis is None:
        _redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
    _redis.publish(channel(), str(lease_id))


# -- the watcher ---------------------------------------------------------------------------------


class Watcher:
    def __init__(self) -> None:
        self.waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self.task: asyncio.Task | None = None
        self.queries = 0  # for the benchmark: what the waiting cost
        self.answers: dict[Hashable, tuple[float, asyncio.Future]] = {}

    async def shared(self, key: Hashable, ttl: float, make: Callable[[], Awaitable[bool]]) -> bool:
        """``make()``'s answer, shared by every waiter that asks with ``key`` within ``ttl``
        seconds of it being asked for (a failed one counts as False): a check that waiters of
        one token and lease repeat costs once per interval, however many they are."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self.answers.get(key)
        if entry is None or entry[0] <= now:
            if len(self.answers) > 10_000:
                self.answers = {k: v for k, v in self.answers.items() if v[0] > now}
            entry = self.answers[key] = (now + ttl, asyncio.ensure_future(make()))
        try:
            return bool(await asyncio.shield(entry[1]))
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    @contextlib.contextmanager
    def watch(self, lease_id: int):
        event = asyncio.Event()
        self.waiters[lease_id].add(event)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield event
        finally:
            events = self.waiters.get(lease_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self.waiters[lease_id]

    def wake(self, lease_ids) -> None:
        for lease_id in lease_ids:
            for event in self.waiters.get(lease_id, ()):
                event.set()

    def wake_all(self) -> None:
        for events in self.waiters.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        redis_task = None
        counter = None
        bell = None
        loop = asyncio.get_running_loop()
        try:
            interval = settings.ZHIMA_API_WATCH_INTERVAL
            if settings.REDIS_URL:
                redis_task = loop.create_task(self._subscribe())
                interval = max(interval, BACKSTOP_SECONDS)
            else:
                counter = ChangeCounter.for_default_database()
                if counter is not None:
                    bell = Bell.for_database_file(counter.path)
                if bell is not None:
                    interval = max(interval, BACKSTOP_SECONDS)
            if counter is not None:
                counter.changed()  # the count before the first query: a later commit shows
            floor = await db(_last_event_id)
            self.queries += 1
            # Anything stored between a waiter's own read and this start is caught by its
            # second read.
            self.wake_all()
            seen: dict[int, float] = {}
            looked = 0.0
            # Lingering costs nothing where changes are announced; a watcher that looks at
            # every interval stops with its last waiter.
            linger = LINGER_SECONDS if interval >= BACKSTOP_SECONDS else 0.0
            last_waiter = loop.time()
            while self.waiters or loop.time() - last_waiter < linger:
                if self.waiters:
                    last_waiter = loop.time()
                rung = False
                if bell is None:
                    await asyncio.sleep(interval)
                else:
                    rung = await bell.wait(interval)
                    pause = looked + RING_GAP_SECONDS - loop.time()
                    if pause > 0:
                        await asyncio.sleep(pause)
                changed = counter.changed() if counter is not None else True
                if not (rung or changed):
                    continue  # nothing committed since the last look
                looked = loop.time()
                rows = await db(_events_after, floor)
                self.queries += 1
                now = time.monotonic()
                fresh = [(i, lease) for i, lease in rows if i not in seen]
                self.wake({lease for _i, lease in fresh})
                for i, _lease in fresh:
                    seen[i] = now
                old = [i for i, at in seen.items() if now - at > LOOKBACK_SECONDS]
                if old:
                    floor = max(floor, *old)
                    for i in old:
                        del seen[i]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the API watcher stopped; waiters are woken to read for themselves")
            self.wake_all()
        finally:
            if redis_task is not None:
                redis_task.cancel()
            if counter is not None:
                counter.close()
            if bell is not None:
                bell.close()
            self.task = None

    async def _subscribe(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel())
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                with contextlib.suppress(ValueError):
                    self.wake([int(message["data"])])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Redis subscription lost; the backstop query goes on")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()


_watchers: dict[asyncio.AbstractEventLoop, Watcher] = {}


def watcher() -> Watcher:
    """This event loop's watcher (one per web process under an ASGI server)."""
    loop = asyncio.get_running_loop()
    w = _watchers.get(loop)
    if w is None:
        for old in [x for x in _watchers if x.is_closed()]:
            del _watchers[old]
        w = _watchers[loop] = Watcher()
    return w
