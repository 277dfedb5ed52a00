"""A bell that rings when the SQLite database file is written: Linux's inotify on its folder.

A commit by any connection (the poller in its own process, another web process, a request of
this one) writes the database's ``-wal`` file (or, without WAL, the file itself), and the
kernel tells every process that watches the folder at once. The long-polls' watcher
(``leases.api.watch``) waits on this bell instead of looking every few milliseconds, so a
stored code wakes its waiter as soon as it is committed and a web process with waiters but
no writes does no work.

Nothing is written or sent for it: the writers need not know of the watchers. Where inotify
is missing (not Linux) ``Bell.for_database_file`` returns None and the watcher looks at its
interval as before. Only the database's own files ring it; the other files of its folder
(the disk cache's, a backup) do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import struct
import sys
from pathlib import Path

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


class Bell:
    """``await bell.wait(timeout)``: True once the database was written since the last wait,
    False after ``timeout`` seconds of quiet. Bound to the event loop that first waits."""

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
        file = Path(path).resolve()
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        if add_watch(fd, os.fsencode(file.parent), IN_MODIFY) < 0:
            os.close(fd)
            return None
        name = os.fsencode(file.name)
        return cls(fd, {name, name + b"-wal", name + b"-journal"})

    def _readable(self) -> None:
        if self.read():
            self.rung.set()

    def read(self) -> bool:
        """Take the pending events; whether one concerns the database."""
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
