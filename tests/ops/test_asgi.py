"""The ASGI application as uvicorn serves it: how a page's synchronous work is scheduled."""

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
from asgiref.sync import SyncToAsync

from tests.conftest import asgi_get, run_async


@pytest.mark.django_db(transaction=True)
def test_a_page_runs_its_middleware_and_view_in_one_hop_to_its_thread():
    """Every middleware is synchronous: Django's async chain would hop to the request's thread
    and back for each hook (twenty-odd hops); the whole chain runs in one."""
    hops = 0
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, *args, **kwargs)

    SyncToAsync.__call__ = counted
    try:
        status = run_async(lambda: asgi_get("/login/"))
    finally:
        SyncToAsync.__call__ = original
    assert status == 200
    # The chain, the request_started and request_finished receivers, the response's close.
    assert hops <= 4, hops


@pytest.mark.django_db(transaction=True)
def test_requests_reuse_idle_threads_and_concurrent_ones_get_their_own():
    """A request's synchronous work runs on a pooled thread: the next request finds the same
    thread (its database connection and cache stores open); requests at the same time each
    have one, so one's slow work does not hold up another's."""
    from django.core.signals import request_started
    from django.db import connection

    seen: list[tuple[int, int]] = []

    def started(**kwargs):
        connection.ensure_connection()
        seen.append((threading.get_ident(), id(connection.connection)))
        time.sleep(0.3)

    request_started.connect(started, dispatch_uid="test-asgi-threads")
    try:

        async def run():
            first = await asgi_get("/login/")
            begun = time.monotonic()
            both = await asyncio.gather(asgi_get("/login/"), asgi_get("/login/"))
            return [first, *both], time.monotonic() - begun

        statuses, together = run_async(run)
    finally:
        request_started.disconnect(dispatch_uid="test-asgi-threads")
    assert statuses == [200, 200, 200]
    assert seen[0] in seen[1:]  # the idle thread, and its connection, again
    assert seen[1][0] != seen[2][0]  # the two at once: one thread each
    assert together < 0.55, together  # side by side, not one after the other (0.6 s)


@pytest.mark.django_db(transaction=True)
def test_a_page_waits_for_its_turn_while_another_request_runs():
    """Synchronous requests run one at a time, in the order they came (zhima_site.admission):
    a page asked for while another request holds the turn is answered once it is free."""
    from zhima_site.asgi import turns

    holding, free = threading.Event(), threading.Event()

    def other_request():
        with turns.running():
            holding.set()
            free.wait(5)

    t = threading.Thread(target=other_request)
    t.start()
    assert holding.wait(5)

    async def run():
        page = asyncio.ensure_future(asgi_get("/login/"))
        await asyncio.sleep(0.4)
        waited = not page.done()
        free.set()
        return waited, await page

    try:
        waited, status = run_async(run)
    finally:
        free.set()
        t.join(5)
    assert waited and status == 200


def test_the_application_imports_its_views_before_the_first_request():
    """A restarted web process answers its first requests without importing the URL conf and
    every view first (a second of CPU the first burst of requests would wait for)."""
    views = ("leases.api.views", "leases.views", "accounts.views")
    code = f"import sys, zhima_site.asgi; print(all(m in sys.modules for m in {views}))"
    env = {**os.environ, "DJANGO_DEBUG": "true", "DATABASE_URL": "sqlite://:memory:"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "True", out.stderr[-2000:]


@pytest.mark.backend
@pytest.mark.django_db(transaction=True)
def test_a_pooled_threads_connection_ended_by_the_server_costs_no_request_an_error():
    """A pooled thread keeps its database connection between requests: when the server ends
    it (a restart, a failover, an idle timeout), the next request on that thread reconnects
    instead of failing."""
    from django.core.signals import request_started
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a database server ending a connection: PostgreSQL")
    pids: list[int] = []

    def started(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])

    request_started.connect(started, dispatch_uid="test-asgi-server-ended")
    try:
        assert run_async(lambda: asgi_get("/login/")) == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pids[-1]])
        statuses = [run_async(lambda: asgi_get("/login/")) for _ in range(3)]
    finally:
        request_started.disconnect(dispatch_uid="test-asgi-server-ended")
    assert statuses == [200, 200, 200]
    assert pids[1] != pids[0]  # the same thread, a new connection


@pytest.mark.django_db(transaction=True)
def test_the_server_start_readies_request_threads_with_their_connections():
    """At the ASGI lifespan's start, WARM_THREADS request threads are started with their
    database connections open, and requests take them; the stop is acknowledged."""
    from django.db import connection

    from zhima_site.asgi import WARM_THREADS, Handler

    handler = Handler()
    sent: list[str] = []

    async def run():
        inbox = asyncio.Queue()
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})

        async def send(message):
            sent.append(message["type"])

        await handler({"type": "lifespan"}, inbox.get, send)

    run_async(run)
    threads = list(handler.idle)
    try:
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert len(threads) == WARM_THREADS >= 4
        opened = [t.submit(lambda: connection.connection is not None).result() for t in threads]
        assert opened == [True] * WARM_THREADS
        idents = {t.submit(threading.get_ident).result() for t in threads}
        assert len(idents) == WARM_THREADS
    finally:
        for t in threads:
            t.submit(lambda: connection.close()).result()
            t.shutdown()
