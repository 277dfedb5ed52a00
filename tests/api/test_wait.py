"""The long-poll ``/code``: 204 when nothing came, 200 as soon as the poller stores a code,
``after`` against stale codes, 410 when the lease ended, and one watcher for all waiters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.test import AsyncClient

from leases.models import Lease, LeaseState, Message
from leases.poller import Poller
from tests.conftest import asgi_get, wait_until

pytestmark = [pytest.mark.backend, pytest.mark.usefixtures("transactional_db")]


def lease(api, item, key):
    r = api.post("/leases", {"item": item, "tag": "w"}, key=key)
    assert r.status_code == 201, r.content
    return r.json()["leases"][0]


def waiting(lease_id) -> int:
    """How many requests wait on the lease now, in every event loop's watcher."""
    from leases.api.watch import _watchers

    try:
        return sum(len(w.waiters.get(lease_id, ())) for w in list(_watchers.values()))
    except RuntimeError:  # a watcher's dict changed meanwhile: count again
        return waiting(lease_id)


def poll_once():
    Lease.objects.filter(state=LeaseState.WAITING).update(next_poll_at=None)
    Lease.objects.filter(state=LeaseState.WAITING).update(
        next_poll_at=Lease.objects.values_list("leased_at", flat=True).first()
    )
    Poller(run_seconds=0.6, tick=0.05).run()


def test_wait_answers_204_then_200_when_the_code_is_stored(personas, items, api_for, sim, fast):
    api = api_for(personas["member"])
    one = lease(api, "1001", "a")
    url = f"/leases/{one['id']}/code"
    started = time.monotonic()
    r = api.get(url, wait=0.4)
    assert r.status_code == 204 and time.monotonic() - started >= 0.4

    answers = {}

    def waiting_for_the_code():
        answers["r"] = api.get(url, wait=10)
        answers["at"] = time.monotonic()

    t = threading.Thread(target=waiting_for_the_code)
    t.start()
    assert wait_until(lambda: waiting(one["id"]) == 1) and t.is_alive()
    sim.deliver(one["phone"], "【微信】验证码 604218，5分钟内有效。")
    poll_once()
    t.join(5)
    stored = Message.objects.get(lease_id=one["id"])
    r = answers["r"]
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["code"] == "604218" and body["message_id"] == stored.pk
    assert "604218" in body["text"] and body["received_at"]
    assert api.get(url).status_code == 200  # the code stays readable

    # A waiter for a newer message learns at once that the lease ended: 410.
    def waiting_newer():
        answers["r"] = api.get(url, after=stored.pk, wait=10)
        answers["at"] = time.monotonic()

    t = threading.Thread(target=waiting_newer)
    t.start()
    assert wait_until(lambda: waiting(one["id"]) == 1)
    released = time.monotonic()
    assert api.post(f"/leases/{one['id']}/release").status_code == 200
    t.join(5)
    r = answers["r"]
    assert r.status_code == 410 and r.json()["error"]["code"] == "ended"
    assert answers["at"] - released < 2


def test_after_skips_a_stale_code_on_a_several_sms_item(personas, items, api_for, sim, fast):
    api = api_for(personas["member"])
    one = lease(api, "1005", "b")
    url = f"/leases/{one['id']}/code"
    sim.deliver(one["phone"], "第一条 验证码 1111")
    poll_once()
    first = api.get(url, wait=2).json()
    assert first["code"] == "1111"
    assert api.post(f"/leases/{one['id']}/keep-waiting").status_code == 200
    # A parallel test retrying now must not read 1111 again.
    assert api.get(url, after=first["message_id"], wait=0.3).status_code == 204
    sim.deliver(one["phone"], "第二条 验证码 2222")
    poll_once()
    second = api.get(url, after=first["message_id"], wait=2).json()
    assert second["code"] == "2222" and second["message_id"] > first["message_id"]


def test_wait_rejects_bad_parameters_and_other_members_leases(personas, items, api_for):
    api = api_for(personas["member"])
    one = lease(api, "1001", "c")
    url = f"/leases/{one['id']}/code"
    assert api.get(url, wait=121).status_code == 400
    assert api.get(url, wait=-1).status_code == 400
    assert api.get(url, after="x").status_code == 400
    assert api.get(url, after=10**30).status_code == 400
    assert api_for(personas["outsider"]).get(url).status_code == 404
    assert api.get("/leases/999999/code").status_code == 404


def test_many_waiters_share_one_watcher_whose_queries_do_not_grow(
    personas, items, api_for, sim, fast, token, settings
):
    """Waiters are woken by one query per interval for all of them, and each reads its own
    lease only when woken: 40 waiters cost what 2 do."""
    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 40
    from leases.api.watch import watcher

    api = api_for(personas["member"])
    ids = [lease(api, "1002", f"m{i}")["id"] for i in range(4)]
    auth = {"Authorization": f"Bearer {token(personas['member'], name='async')}"}

    async def run(n, wait):
        client = AsyncClient()
        started = time.monotonic()
        tasks = [
            client.get(f"/api/v1/leases/{ids[i % len(ids)]}/code", {"wait": wait}, headers=auth)
            for i in range(n)
        ]
        answers = await asyncio.gather(*tasks)
        return answers, watcher().queries, time.monotonic() - started

    few, q_few, _t_few = asyncio.run(run(2, 1.0))
    many, q_many, t_many = asyncio.run(run(40, 1.0))
    assert {r.status_code for r in few + many} == {204}
    assert t_many < 8  # held together, not one after another (40 s)
    interval = 0.05
    assert q_few <= 1.0 / interval + 4 and q_many <= 1.0 / interval + 4
    assert q_many <= q_few + 6


def test_a_stored_code_wakes_every_waiter_of_that_lease_quickly(
    personas, items, api_for, sim, fast, token
):
    api = api_for(personas["member"])
    one = lease(api, "1001", "q")
    other = lease(api, "1001", "r")
    auth = {"Authorization": f"Bearer {token(personas['member'], name='async')}"}
    box = {}

    async def run():
        client = AsyncClient()
        waits = [
            client.get(f"/api/v1/leases/{one['id']}/code", {"wait": 8}, headers=auth)
            for _ in range(5)
        ]
        waits.append(client.get(f"/api/v1/leases/{other['id']}/code", {"wait": 1.5}, headers=auth))
        loop = asyncio.get_running_loop()

        def deliver():
            assert wait_until(lambda: waiting(one["id"]) == 5)
            sim.deliver(one["phone"], "验证码 777111")
            poll_once()

        waits = [asyncio.ensure_future(w) for w in waits]
        poller = loop.run_in_executor(None, deliver)
        answers = await asyncio.gather(*waits[:5])
        box["answered"] = time.time()
        answers.append(await waits[5])
        await poller
        return answers

    answers = asyncio.run(run())
    assert [r.status_code for r in answers[:5]] == [200] * 5
    assert {r.json()["code"] for r in answers[:5]} == {"777111"}
    assert answers[5].status_code == 204
    # Answered within a few watcher intervals of the commit that stored it (generous: the
    # machine running the tests may be busy; bench/api_wait.py measures the real figure).
    stored = Message.objects.get(lease_id=one["id"]).created_at.timestamp()
    assert box["answered"] - stored < 1.0


def test_waiting_requests_hold_no_thread_each_under_the_asgi_server(
    personas, items, api_for, token, settings
):
    """Through the project's ASGI application (what uvicorn serves): 30 concurrent waits
    add no thread per request (the API's small database pool and asgiref's shared thread)."""
    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 30

    api = api_for(personas["member"])
    one = lease(api, "1001", "t")
    auth = f"Bearer {token(personas['member'], name='asgi')}".encode()
    path = f"/api/v1/leases/{one['id']}/code"

    async def call(wait):
        return await asgi_get(path, f"wait={wait}", ((b"authorization", auth),))

    async def run():
        await call(0)  # the pool and the shared thread exist from here on
        before = threading.active_count()
        tasks = [asyncio.ensure_future(call(3)) for _ in range(30)]
        most = during = 0  # waiting at once; threads meanwhile, at the most
        while not all(t.done() for t in tasks):
            most = max(most, waiting(one["id"]))
            during = max(during, threading.active_count())
            await asyncio.sleep(0.02)
        return before, during, most, [t.result() for t in tasks]

    before, during, most, statuses = asyncio.run(run())
    assert statuses == [204] * 30 and most == 30
    assert during - before < 5, (before, during)


def test_the_poller_announces_each_stored_message_after_its_commit(personas, items, api_for, sim):
    from leases.signals import message_received

    seen = []

    def receiver(sender, lease_id, message_id, **kw):
        seen.append((lease_id, message_id, Message.objects.filter(pk=message_id).exists()))

    message_received.connect(receiver)
    try:
        one = lease(api_for(personas["member"]), "1005", "sig")
        sim.deliver(one["phone"], "验证码 5150")
        poll_once()
    finally:
        message_received.disconnect(receiver)
    stored = Message.objects.get(lease_id=one["id"])
    assert seen == [(one["id"], stored.pk, True)]


@pytest.mark.skipif("not __import__('django.conf').conf.settings.REDIS_URL")
def test_with_redis_a_published_message_wakes_its_waiter_at_once(
    personas, items, api_for, settings
):
    """The backstop query is made slow here: only the poller's publication can be in time."""
    import redis

    from leases.api.watch import channel, publish

    settings.ZHIMA_API_WATCH_INTERVAL = 30
    api = api_for(personas["member"])
    one = lease(api, "1005", "redis")
    answers = {}

    def waiting_for_the_code():
        answers["r"] = api.get(f"/leases/{one['id']}/code", wait=6)

    t = threading.Thread(target=waiting_for_the_code)
    t.start()
    subscribers = redis.Redis.from_url(settings.REDIS_URL).pubsub_numsub
    assert wait_until(lambda: waiting(one["id"]) == 1 and subscribers(channel())[0][1] == 1)
    Message.objects.create(
        lease_id=one["id"], direction="in", text="验证码 9", digest="x", code="9"
    )
    sent = time.monotonic()
    publish(lease_id=one["id"])
    t.join(8)
    assert answers["r"].status_code == 200 and answers["r"].json()["code"] == "9"
    assert time.monotonic() - sent < 2


def test_the_change_counter_moves_only_when_another_connection_commits(tmp_path):
    """On SQLite the watcher queries only after a commit elsewhere (a poller's SMS)."""
    import sqlite3

    from leases.api.watch import ChangeCounter

    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    counter = ChangeCounter(str(path))
    assert counter.changed()  # the first look has nothing to compare with
    assert not counter.changed() and not counter.changed()
    writer.execute("INSERT INTO t VALUES (1)")
    assert counter.changed()
    assert not counter.changed()
    writer.close()
    path.unlink()
    (tmp_path / "db.sqlite3-wal").unlink(missing_ok=True)
    counter.close()
    assert counter.changed()  # no database: counted as a change, so the watcher queries
    assert not (tmp_path / "db.sqlite3").exists()  # and none was created


def test_the_change_counter_never_waits_for_a_lock(tmp_path):
    """It runs on the web process's event loop: a database locked by another process is a
    change at once (the watcher's query then runs on its pool), never a wait for the lock."""
    import sqlite3

    from leases.api.watch import ChangeCounter

    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    counter = ChangeCounter(str(path))
    counter.changed()
    writer.execute("BEGIN EXCLUSIVE")  # readers locked out (a rollback-journal database)
    begun = time.monotonic()
    assert counter.changed()
    assert time.monotonic() - begun < 0.04  # a busy timeout of 0.05 s would be waited out
    writer.execute("COMMIT")
    counter.close()


def test_waiters_of_one_token_share_their_authority_checks(
    personas, items, api_for, sim, fast, token, settings, monkeypatch
):
    """Twenty waits of one token on two leases of one account for 1.2 s, re-checking every
    0.2 s: the token and membership are looked up about once per half interval for all of
    them (one shared check), not once per waiter (some 240 checks)."""
    from leases.api import views

    settings.ZHIMA_API_MAX_WAITS_PER_TOKEN = 40
    settings.ZHIMA_API_WAIT_RECHECK_SECONDS = 0.2
    calls = []
    real = views.allowed
    monkeypatch.setattr(views, "allowed", lambda *a: calls.append(a) or real(*a))
    api = api_for(personas["member"])
    ids = [lease(api, "1002", f"s{i}")["id"] for i in range(2)]
    auth = {"Authorization": f"Bearer {token(personas['member'], name='shared')}"}

    async def run():
        client = AsyncClient()
        return await asyncio.gather(
            *[
                client.get(f"/api/v1/leases/{ids[i % 2]}/code", {"wait": 1.2}, headers=auth)
                for i in range(20)
            ]
        )

    answers = asyncio.run(run())
    assert {r.status_code for r in answers} == {204}
    assert 3 <= len(calls) <= 20, len(calls)


@pytest.mark.skipif("not __import__('sys').platform.startswith('linux')")
def test_the_bell_rings_when_rung_and_only_then(tmp_path):
    """The watcher's wake-up on SQLite: a ring from any process reaches it at once; a quiet
    folder, a commit that rings nothing, or another file of the folder written, does not."""
    import sqlite3

    from leases.api.bell import Bell, ring

    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    bell = Bell.for_database_file(str(path))
    assert bell is not None

    async def run():
        quiet = await bell.wait(0.2)
        (tmp_path / "other.txt").write_text("not the bell")
        writer.execute("INSERT INTO t VALUES (1)")
        other = await bell.wait(0.2)
        script = "import sys; from leases.api.bell import ring; ring(sys.argv[1])"
        rung_by_another = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            cwd=Path(__file__).resolve().parents[2],
            check=True,
            timeout=30,
        )
        first = await bell.wait(5)
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, ring, str(path))
        started = time.monotonic()
        second = await bell.wait(5)
        return quiet, other, rung_by_another.returncode, first, second, time.monotonic() - started

    try:
        quiet, other, code, first, second, took = asyncio.run(run())
    finally:
        bell.close()
        writer.close()
    assert (quiet, other, code, first, second) == (False, False, 0, True, True)
    assert took < 1.0
    assert (tmp_path / "db.sqlite3-bell").stat().st_size == 1  # rewritten, never grown


def test_a_bell_that_cannot_be_written_is_skipped_with_one_warning(tmp_path, caplog):
    from leases.api.bell import ring

    folder = tmp_path / "gone"
    with caplog.at_level("WARNING", logger="leases.api.bell"):
        ring(str(folder / "db.sqlite3"))
        ring(str(folder / "db.sqlite3"))
    assert [r.getMessage() for r in caplog.records if "bell" in r.getMessage()] == [
        f"cannot ring the long-polls' bell {folder / 'db.sqlite3-bell'}: "
        f"[Errno 2] No such file or directory: '{folder / 'db.sqlite3-bell'}'"
    ]


def test_on_sqlite_a_stored_code_and_an_end_wake_their_waiters_without_the_interval(
    personas, items, api_for, sim, token, settings
):
    """The watcher's interval is made 30 s here: only the bell (rung by the poller once the
    SMS is committed, by the release once the lease has ended) can wake the waiters in time."""
    from leases.api.watch import ChangeCounter

    if ChangeCounter.for_default_database() is None:
        pytest.skip("SQLite on a file only")
    settings.ZHIMA_API_WATCH_INTERVAL = 30
    api = api_for(personas["member"])
    one = lease(api, "1001", "bell")
    auth = {"Authorization": f"Bearer {token(personas['member'], name='bell')}"}
    url = f"/api/v1/leases/{one['id']}/code"

    async def run():
        loop = asyncio.get_running_loop()
        waiting_for_it = asyncio.ensure_future(AsyncClient().get(url, {"wait": 8}, headers=auth))

        def deliver():
            assert wait_until(lambda: waiting(one["id"]) == 1)
            sim.deliver(one["phone"], "验证码 424242")
            poll_once()

        await loop.run_in_executor(None, deliver)
        answer = await waiting_for_it
        answered = time.time()
        after = answer.json()["message_id"]
        waiting_for_more = asyncio.ensure_future(
            AsyncClient().get(url, {"wait": 8, "after": after}, headers=auth)
        )

        def release():
            assert wait_until(lambda: waiting(one["id"]) == 1)
            assert api.post(f"/leases/{one['id']}/release").status_code == 200
            return time.monotonic()

        released = await loop.run_in_executor(None, release)
        ended = await waiting_for_more
        return answer, answered, ended, time.monotonic() - released

    answer, answered, ended, end_took = asyncio.run(run())
    assert answer.status_code == 200 and answer.json()["code"] == "424242"
    stored = Message.objects.get(lease_id=one["id"]).created_at.timestamp()
    assert answered - stored < 2.0
    assert ended.status_code == 410 and ended.json()["error"]["code"] == "ended"
    assert end_took < 2.0


def test_the_watcher_outlives_its_last_waiter_where_changes_are_announced(
    personas, items, api_for, token
):
    """Tests that wait one after another keep one watcher: a new one would wake every
    waiter for a second read."""
    from leases.api.bell import Bell
    from leases.api.watch import ChangeCounter, watcher

    counter = ChangeCounter.for_default_database()
    bell = counter and Bell.for_database_file(counter.path)
    if not bell:
        pytest.skip("SQLite on a file, with inotify, only")
    bell.close()
    one = lease(api_for(personas["member"]), "1001", "linger")
    auth = {"Authorization": f"Bearer {token(personas['member'], name='linger')}"}
    url = f"/api/v1/leases/{one['id']}/code"

    async def run():
        first = await AsyncClient().get(url, {"wait": 0.2}, headers=auth)
        task = watcher().task
        await asyncio.sleep(1.5)  # past the backstop's second: a watcher without waiters ends
        alive = task is not None and not task.done()
        second = await AsyncClient().get(url, {"wait": 0.2}, headers=auth)
        return first.status_code, second.status_code, alive, watcher().task is task

    assert asyncio.run(run()) == (204, 204, True, True)
