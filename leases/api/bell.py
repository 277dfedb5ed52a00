"""A bell beside the SQLite database: a one-byte file that writers touch after a commit the
long-polls care about, and that Linux's inotify reports to every process watching its folder.

The long-polls' watcher (``leases.api.watch``) waits on it instead of looking every few
milliseconds. Whoever commits a change a waiter cares about rings it once the transaction has
committed (``leases.signals``: an SMS stored, a lease ended; the poller in its own process, a
request of a web process), so the watcher's one query runs when there is something to find and
finds it: no look after the web's own unrelated writes, no look before the commit shows. It is
the embedded default's counterpart of the Redis channel (``leases.api.watch.publish``).

Ringing is best effort: a bell that cannot be written (a read-only folder) is skipped, and the
watcher's backstop look once a second still finds the change. Where inotify is missing (not
Linux) ``Bell.for_database_file`` returns None and the watcher looks at its interval instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import struct
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_Q_OVERFLOW = 0x00004000  # events were lost: ring, whatever they were
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name


def _inotify():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=8)
def bell_file(database: str) -> Path:
    """The bell of the SQLite database at ``database``: ``<database>-bell`` beside it."""
    file = Path(database).resolve()
    return file.with_name(file.name + "-bell")


_fds: dict[Path, int] = {}
_warned: set[Path] = set()
_ring_lock = threading.Lock()


def ring(database: str) -> None:
    """Tell every watcher of ``database`` that a change it cares about has committed."""
    path = bell_file(database)
    with _ring_lock:
        try:
            if path not in _fds:
                _fds[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.pwrite(_fds[path], b"\n", 0)  # one byte, rewritten: a file that never grows
        except OSError as exc:
            fd = _fds.pop(path, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if path not in _warned:  # once: the backstop look still finds every change
                _warned.add(path)
                log.warning("cannot ring the long-polls' bell %s: %s", path, exc)


class Bell:
    """``await bell.wait(timeout)``: True once the bell was rung since the last wait, False
    after ``timeout`` seconds of quiet. Bound to the event loop that first waits."""

    def __init__(self, fd: int, names: set[bytes]) -> None:
        self.fd = fd
        self.names = names
        self.rung = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_database_file(cls, path: str) -> Bell | None:
        calls = _inotify()
        if calls is None:
            return None
        init, add_watch = calls
        file = bell_file(path)
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        if add_watch(fd, os.fsencode(file.parent), IN_MODIFY) < 0:
            os.close(fd)
            return None
        return cls(fd, {os.fsencode(file.name)})

    def _readable(self) -> None:
        if self.read():
            self.rung.set()

    def read(self) -> bool:
        """Take the pending events; whether one is the bell's."""
        hit = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return hit
            except OSError:
                return True  # an unreadable bell rings: the watcher looks for itself
            if not data:
                return True
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].split(b"\0", 1)[0]
                offset = start + length
                if mask & IN_Q_OVERFLOW or name in self.names:
                    hit = True

    async def wait(self, timeout: float) -> bool:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.loop.add_reader(self.fd, self._readable)
        try:
            async with asyncio.timeout(timeout):
                await self.rung.wait()
        except TimeoutError:
            return False
        self.rung.clear()
        return True

    def close(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
