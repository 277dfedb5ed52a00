"""What one token may hold: at most ``ZHIMA_API_MAX_WAITS_PER_TOKEN`` concurrent ``/code``
waits (counted in the shared cache, each slot expiring after its wait, so a crashed wait
frees its slot by itself), and its lease and send requests within one per-minute limit."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.core.cache import cache
from django.test import AsyncClient

from accounts.models import ApiToken
from tests.api.conftest import Api
from tests.conftest import run_async

pytestmark = [pytest.mark.usefixtures("transactional_db"), pytest.mark.backend]


def lease(api, item="1001", key="k"):
    r = api.post("/leases", {"item": item, "tag": "limits"}, key=key)
    assert r.status_code == 201, r.content
    return r.json()["leases"][0]


def slots_held(token_pk, cap):
    return list(cache.get_many([f"api-wait:{token_pk}:{i}" for i in range(cap)]))


def test_one_token_holds_at_most_its_cap_of_concurrent_waits(
    personas, items, api_for, token, fast, settings
):
    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 3
    member = personas["member"]
    one = lease(api_for(member))
    url = f"/api/v1/leases/{one['id']}/code"
    auth = {"Authorization": f"Bearer {token(member, name='capped')}"}
    other = {"Authorization": f"Bearer {token(member, name='second')}"}
    pk = ApiToken.objects.get(name="capped").pk

    async def run():
        from leases.api.watch import watcher

        client = AsyncClient()
        # Six at once: the slots are taken concurrently (the API's database pool has threads).
        waits = [
            asyncio.ensure_future(client.get(url, {"wait": 3}, headers=auth)) for _ in range(6)
        ]
        end = time.monotonic() + 10
        while len(watcher().waiters.get(one["id"], ())) < 3 and time.monotonic() < end:
            await asyncio.sleep(0.02)
        out = {"during": len(slots_held(pk, 3))}
        out["read"] = await client.get(url, {"wait": 0}, headers=auth)  # not a wait
        out["other"] = await client.get(url, {"wait": 0.2}, headers=other)  # its own cap
        out["waits"] = await asyncio.gather(*waits)
        out["after"] = len(slots_held(pk, 3))
        out["again"] = await asyncio.gather(
            *[client.get(url, {"wait": 0.2}, headers=auth) for _ in range(3)]
        )
        return out

    out = run_async(run)
    assert out["during"] == 3
    statuses = sorted(r.status_code for r in out["waits"])
    assert statuses == [204, 204, 204, 429, 429, 429], statuses
    for extra in out["waits"]:
        if extra.status_code == 429:
            assert extra.json()["error"]["code"] == "too_many_waits"
            assert 1 <= int(extra["Retry-After"]) <= 3  # the first held wait ends by then
    assert out["read"].status_code == 204 and out["other"].status_code == 204
    assert out["after"] == 0  # given back when the waits ended
    assert [r.status_code for r in out["again"]] == [204] * 3


def test_a_slot_left_by_a_crashed_wait_expires(
    personas, items, api_for, token, settings, monkeypatch
):
    """Slots held in the shared cache by another web process count; one whose process died
    without giving it back expires shortly after its wait would have ended."""
    from leases.api import limits

    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 2
    member = personas["member"]
    one = lease(api_for(member))
    raw = token(member, name="crashy")
    pk = ApiToken.objects.get(name="crashy").pk
    monkeypatch.setattr(limits, "SLOT_MARGIN", 0)
    limits.take_wait_slot(pk, 1)  # two waits of a process that then died
    limits.take_wait_slot(pk, 1)
    api = Api(raw)
    r = api.get(f"/leases/{one['id']}/code", wait=0.1)
    assert r.status_code == 429 and r["Retry-After"] == "1"
    end = time.monotonic() + 10
    while slots_held(pk, 2) and time.monotonic() < end:
        time.sleep(0.1)
    assert api.get(f"/leases/{one['id']}/code", wait=0.1).status_code == 204


def test_sends_count_against_the_tokens_request_limit(personas, items, api_for, settings, sim):
    settings.ZHIMA_API_LEASES_PER_MINUTE = 3
    api = api_for(personas["member"])
    one = lease(api, "1004")
    url = f"/leases/{one['id']}/send"
    assert api.post(url, {"text": "a"}, key="s1").status_code == 201
    assert api.post(url, {"text": "b"}, key="s2").status_code == 201
    r = api.post(url, {"text": "c"}, key="s3")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r["Retry-After"]) <= 60
    assert sim.stats()["requests"]["send_sms"] == 2
    assert api.post("/leases", {"item": "1001"}, key="l2").status_code == 429


def test_waits_racing_for_the_last_slots_get_no_more_than_the_cap(personas, settings):
    """Twelve waits of one token taking their slots at the same moment, ten times over: each
    time three get one and nine a 429 (``add`` is atomic on Redis and on the embedded
    cache alike)."""
    import threading

    from leases.api import limits
    from leases.api.errors import ApiError

    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 3
    for token_pk in range(4200, 4210):
        barrier = threading.Barrier(12)
        got, refused = [], []

        def take(token_pk=token_pk, barrier=barrier, got=got, refused=refused):
            barrier.wait()
            try:
                got.append(limits.take_wait_slot(token_pk, 5))
            except ApiError as exc:
                refused.append(exc.status)

        threads = [threading.Thread(target=take) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(got) == 3 and refused == [429] * 9, (token_pk, got)
        assert len({slot.key for slot in got}) == 3
        for slot in got:
            limits.give_back(slot)
        assert slots_held(token_pk, 3) == []
