"""The ASGI application (uvicorn serves it; see README "Running for a team").

Django runs the synchronous parts of a request (signal receivers, middleware hooks, sync
views) on one thread of its own, so that they share the thread-bound state: the database
connection, the cache's SQLite connections. Here:

- Every view but one is synchronous, and so is every middleware's work: Django's async chain
  would hop to that thread and back for each middleware hook (about twenty hops a request).
  Those requests run the whole chain in one hop, as under WSGI.
- That thread is taken from a pool of idle ones rather than started for the request and
  joined after it: a new thread would open a new database connection and the cache's stores
  again (several milliseconds of CPU, more than many requests). A thread goes back to the pool
  once its work is done, even the work of a request whose client left.
- Those requests take turns at running, in the order they came (``zhima_site.admission``):
  a burst of requests is served first come, first done, instead of all sharing the one core
  Python runs on and all finishing late.
- The URL conf and the views are imported when the application is, not on a first request;
  at the server's start (ASGI lifespan) the shared cache is opened and ``WARM_THREADS`` request
  threads are started with their database connections, so a burst of requests right after a
  (re)start does not pay for them (tens of milliseconds each).
- The API's long-poll (``/api/v1/leases/<id>/code``) is an async view whose database work runs
  on its own small pool: it keeps the async chain and takes no thread, so its few synchronous
  hooks run briefly on asgiref's shared thread and a waiting request holds no thread.
"""

import asyncio
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connection
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import get_resolver

from accounts.upstream import hooks
from zhima_site.admission import Turns

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")

log = logging.getLogger(__name__)

LONG_POLL = re.compile(r"^/api/v1/leases/[^/]+/code/?$")
# Idle request threads kept; more concurrent requests get threads of their own, let go after.
IDLE_THREADS = 16
# Request threads started, with their connections, when the server starts.
WARM_THREADS = 8


class Handler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)
        self.idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # Django's refusal
        if LONG_POLL.match(scope.get("path", "")):
            return await self.handle(scope, receive, send)
        thread = self.idle.pop() if self.idle else ThreadPoolExecutor(1, "request")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            # Back to the pool once idle: a request whose client left may still be running.
            await asyncio.get_running_loop().run_in_executor(thread, _idle)
            if len(self.idle) < IDLE_THREADS:
                self.idle.append(thread)
            else:
                thread.shutdown(wait=False)

    async def lifespan(self, receive, send) -> None:
        """The server's start and stop: at the start, the warm request threads."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                threads = [ThreadPoolExecutor(1, "request") for _ in range(WARM_THREADS)]
                await asyncio.gather(*(loop.run_in_executor(t, _open_connections) for t in threads))
                self.idle.extend(threads)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def run_get_response(self, request):
        if LONG_POLL.match(request.path):
            return await super().run_get_response(request)
        get_response = sync_to_async(self._get_response_in_turn, thread_sensitive=True)
        response = await get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django does
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    def _get_response_in_turn(self, request: HttpRequest) -> HttpResponseBase:
        with turns.running():
            return self.sync_handler.get_response(request)


def _idle() -> None:
    """Runs once the thread's earlier work is done."""


def _open_connections() -> None:
    """On a new request thread: its database connection, and the process's cache stores (a
    first use opens them all). Whatever fails here is left to the first request (the readiness
    probe reports a database that is down)."""
    try:
        connection.ensure_connection()
        cache.get("warm-up")
    except Exception as exc:
        log.warning("could not open the connections of a request thread at start: %s", exc)


django.setup(set_prefix=False)  # as get_asgi_application does, without a handler to discard
turns = Turns(settings.ZHIMA_WEB_RUNNING_REQUESTS)
hooks.network_wait = turns.waiting_on_network
application = Handler()
# The URL conf and every view module imported now, not by the first requests (a second of CPU
# that a restart's first burst of requests would wait for).
get_resolver().check()  # reads url_patterns, which imports them
