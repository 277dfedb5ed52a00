"""The ASGI application as uvicorn serves it: how a page's synchronous work is scheduled."""

import asyncio

import pytest
from asgiref.sync import SyncToAsync


def _get(path: str) -> tuple[int, int]:
    """``path`` through the project's ASGI application: its status and how many times the
    request hopped from the event loop to a thread."""
    from zhima_site.asgi import application

    hops = 0
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, *args, **kwargs)

    out: list[dict] = []

    sent: list[int] = []

    async def receive():
        if not sent:
            sent.append(1)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected

    async def send(message):
        out.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    SyncToAsync.__call__ = counted  # type: ignore[method-assign]
    try:
        asyncio.run(application(scope, receive, send))
    finally:
        SyncToAsync.__call__ = original  # type: ignore[method-assign]
    return out[0]["status"], hops


@pytest.mark.django_db(transaction=True)
def test_a_page_runs_its_middleware_and_view_in_one_hop_to_its_thread():
    """Every middleware is synchronous: Django's async chain would hop to the request's thread
    and back for each hook (twenty-odd hops); the whole chain runs in one."""
    status, hops = _get("/login/")
    assert status == 200
    # The chain, the request_started and request_finished receivers, the response's close.
    assert hops <= 4, hops
