"""Requests take turns at running, in the order they came: a burst is served first come,
first done, not all at once and all late.

A web process runs Python one thread at a time (the GIL). When eight requests arrive
together, eight request threads share it in slices of a few milliseconds, so all eight finish
near the end of the burst: each waits for the whole burst's work. Taking turns, the first
finishes after its own work, the second after two, and on average a request waits for half
the burst. That is what ``bench/kits.py`` measures: the test kits' leases and releases come in
such bursts.

- ``running()`` holds one of ``ZHIMA_WEB_RUNNING_REQUESTS`` turns while a synchronous request
  runs (``zhima_site.asgi`` wraps the middleware chain and the view in it).
- ``waiting_on_network()`` gives the turn away while the request waits for the upstream's
  answer (the upstream client wraps each call in it, through
  ``accounts.upstream.hooks.network_wait``), so a slow upstream holds up nobody else; back
  from the network, the request goes before every request still waiting for a first turn.
- No wait for a turn lasts more than ``PATIENCE_SECONDS``: after that the request runs anyway.
  Whatever holds a turn longer (a lock held elsewhere, a slow query) costs each waiting request
  at most that, never a deadlock. A request waits once for its first turn and once after each
  upstream call.

The long-poll holds no turn: it waits on the event loop, and its short reads run on a pool of
their own (``leases.api.watch``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Iterator

PATIENCE_SECONDS = 1.0
BACK, NEW = 0, 1  # who goes first: a request back from the network, then the arrivals


class _Waiter:
    __slots__ = ("called", "gone")

    def __init__(self) -> None:
        self.called = threading.Event()
        self.gone = False  # stopped waiting (its patience ran out): skipped


class Turns:
    def __init__(self, slots: int, patience: float = PATIENCE_SECONDS) -> None:
        self.patience = patience
        self.free = slots
        self.lock = threading.Lock()
        self.queue: list[tuple[int, int, _Waiter]] = []
        self.order = itertools.count()
        self.local = threading.local()

    def _take(self, rank: int) -> None:
        with self.lock:
            if self.free:
                self.free -= 1
                self.local.held = True
                return
            waiter = _Waiter()
            heapq.heappush(self.queue, (rank, next(self.order), waiter))
        try:
            called = waiter.called.wait(self.patience)
        finally:
            # Past the patience, or interrupted: skipped from now on. A turn handed over
            # meanwhile is held, and running() passes it on.
            with self.lock:
                called = waiter.called.is_set()
                waiter.gone = not called
            self.local.held = called

    def _give(self) -> None:
        if not getattr(self.local, "held", False):
            return
        self.local.held = False
        with self.lock:
            while self.queue:  # the turn passes straight to the next: nobody cuts in
                _rank, _n, waiter = heapq.heappop(self.queue)
                if not waiter.gone:
                    waiter.called.set()
                    return
            self.free += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if getattr(self.local, "held", False):  # already running (a nested call): one turn
            yield
            return
        try:
            self._take(NEW)
            yield
        finally:
            self._give()

    @contextlib.contextmanager
    def waiting_on_network(self) -> Iterator[None]:
        """Around a wait for another server: the turn goes to the next request meanwhile, and
        comes back before any newer request's. A thread that holds no turn (the poller's, a
        test's) is not affected."""
        if not getattr(self.local, "held", False):
            yield
            return
        self._give()
        try:
            yield
        finally:
            self._take(BACK)
