"""Django's async-safety guard is live for the API's tests: a synchronous ORM call made on the
long-poll's event loop (instead of on the API's database pool) fails the request. The browser
tests lift the guard for themselves only (``tests/browser/conftest.py``), so this holds in a
full run too."""

from __future__ import annotations

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.test import AsyncClient

from leases.api import views
from tests.conftest import run_async

pytestmark = pytest.mark.usefixtures("transactional_db")


def wait_code(lease_id: int, raw_token: str):
    async def get():
        client = AsyncClient(raise_request_exception=True)
        return await client.get(
            f"/api/v1/leases/{lease_id}/code",
            {"wait": "0.2"},
            headers={"Authorization": f"Bearer {raw_token}"},
        )

    return run_async(get)


def test_a_sync_orm_call_on_the_long_polls_event_loop_fails(
    personas, items, api_for, token, monkeypatch, caplog
):
    api = api_for(personas["member"])
    r = api.post("/leases", {"item": "1001", "tag": "guard"}, key="guard")
    assert r.status_code == 201, r.content
    lease_id = r.json()["leases"][0]["id"]
    raw = token(personas["member"], name="guard")
    assert wait_code(lease_id, raw).status_code == 204  # the path as it is: on the pool

    async def on_the_loop(fn, *args, **kwargs):
        return fn(*args, **kwargs)  # the mistake: ORM code run on the event loop's thread

    monkeypatch.setattr(views, "db", on_the_loop)
    caplog.clear()
    r = wait_code(lease_id, raw)
    # The API's fault handler answers its 500 envelope and logs the exception it caught (the
    # logging filter keeps the traceback as redacted text).
    assert r.status_code == 500, r.content
    assert r.json()["error"]["code"] == "server_error"
    logged = [rec.exc_text for rec in caplog.records if rec.name == "leases.api.errors"]
    assert any(SynchronousOnlyOperation.__name__ in (t or "") for t in logged), logged
