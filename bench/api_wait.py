"""Long-polls held by one web process: the dashboard's p95 with and without them, the time
from a stored code to its waiting client, and the queries the waiting costs.

    .venv/bin/python bench/api_wait.py [--waiters 500] [--leases 50] [--deliveries 20]
    BENCH_DATABASE=postgres REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/api_wait.py

One uvicorn process serves the console (started by this script, with a query counter); the
poller runs in this process against a simulator process. Phases: the dashboard alone; 50
waiters, then ``--waiters`` (queries per second of the web process while only waiting goes
on); the dashboard again with the waiters held; then ``--deliveries`` SMS, each to one lease
that ten waiters watch, and the time from the message's stored time to each waiter's answer.
Everything is bounded and stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import requests
from common import (
    ROOT,
    free_port,
    fresh_database,
    machine,
    percentile,
    setup_django,
    start_simulator,
)

COUNTER = ROOT / "var" / "bench_api_queries.txt"


# -- the web process -----------------------------------------------------------------------------


def serve(port: int) -> None:
    """uvicorn with every SQL statement counted, the count written to COUNTER 4× a second."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")
    import django

    django.setup()
    import uvicorn
    from django.db.backends.signals import connection_created

    count = [0]

    def counted(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    def on_connect(sender, connection, **kw):
        connection.execute_wrappers.append(counted)

    connection_created.connect(on_connect, weak=False)

    from leases.api import watch

    def write():
        while True:
            waiting = sum(
                len(events) for w in list(watch._watchers.values()) for events in w.waiters.values()
            )
            COUNTER.write_text(f"{count[0]} {waiting}")
            time.sleep(0.25)

    threading.Thread(target=write, daemon=True).start()
    from zhima_site.asgi import application

    uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def poll() -> None:
    """The poller, in a process of its own (as a django-q2 worker runs it)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")
    import django

    django.setup()
    from leases.poller import Poller

    Poller(run_seconds=600, concurrency=8).run()


def counters() -> tuple[int, int]:
    """The web process's SQL statements so far, and the long-polls it holds now."""
    try:
        q, w = COUNTER.read_text().split()
        return int(q), int(w)
    except (OSError, ValueError):
        return 0, 0


def queries() -> int:
    return counters()[0]


# -- a minimal async HTTP client (no extra package) -------------------------------------------


async def get(port: int, path: str, token: str) -> tuple[int, dict | None, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    at = time.time()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, (json.loads(body) if status == 200 else None), at


# -- the benchmark -----------------------------------------------------------------------------


def dashboard(port: int, cookie: tuple[str, str], n: int) -> list[float]:
    s = requests.Session()
    s.cookies.set(*cookie)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = s.get(f"http://127.0.0.1:{port}/", timeout=30)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.status_code
        time.sleep(0.1)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiters", type=int, default=500)
    ap.add_argument("--leases", type=int, default=50)
    ap.add_argument("--deliveries", type=int, default=20)
    ap.add_argument("--pages", type=int, default=60)
    args = ap.parse_args()
    db = fresh_database("bench_api")
    env = {
        "ZHIMA_POLL_INTERVAL": 1,
        "CACHE_KEY_PREFIX": "bench-api",
        "ZHIMA_POLLER_SLOTS": 1,
        "LOG_LEVEL": "ERROR",
        # One token holds every wait here; the per-token cap (10 by default) is not measured.
        "ZHIMA_API_MAX_WAITS_PER_TOKEN": 0,
        "ZHIMA_API_LEASES_PER_MINUTE": 0,
    }
    setup_django(db, **env)
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from accounts import tokens
    from accounts.audit import CallContext
    from accounts.models import DeveloperAccount, Membership, Role
    from leases import services
    from leases.catalog import refresh_item
    from leases.models import Lease

    call_command("seed_demo", "--leases", "2000", "--audit", "5000", verbosity=0)
    sim, base = start_simulator()
    requests.post(
        base.replace("zsmcode/", "_sim/config"),
        json={"auto_sms": False, "sms_lost_rate": 0, "sms_timeout_rate": 0},
        timeout=5,
    )
    user = get_user_model().objects.get(username="demo0")
    account = DeveloperAccount(name="BenchSim", upstream_account="demo", base_url=base)
    account.set_pkey("demo-pkey")
    account.save()
    Membership.objects.create(user=user, account=account, role=Role.MANAGER)
    item = refresh_item(account, "1005", CallContext.for_task("bench"))
    for i in range(0, args.leases, 10):
        services.lease_numbers(user, item, key=f"bench-{i}", quantity=min(10, args.leases - i))
    leases = list(Lease.objects.filter(account=account).values_list("pk", "phone"))
    _token, raw = tokens.issue(user, "bench")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    cookie = (settings.SESSION_COOKIE_NAME, session.session_key or "")  # save() gave it one

    port = free_port()
    child_env = {**os.environ, **{k: str(v) for k, v in env.items()}}
    web = subprocess.Popen([sys.executable, __file__, "serve", str(port)], cwd=ROOT, env=child_env)
    poller = None
    try:
        for _ in range(200):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        poller = subprocess.Popen([sys.executable, __file__, "poll"], cwd=ROOT, env=child_env)
        dashboard(port, cookie, 5)  # warm up
        idle = dashboard(port, cookie, args.pages)
        results = asyncio.run(hold(args, port, raw, cookie, leases, base, web.pid))
        # The machine's load drifts: the idle figure is measured again after the waiters.
        idle += dashboard(port, cookie, args.pages)
    finally:
        if poller is not None:
            poller.terminate()
            poller.wait(10)
        web.terminate()  # uvicorn waits for open long-polls: kill after a few seconds
        try:
            web.wait(5)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait(5)
        sim.terminate()
        sim.wait(10)
    report(args, idle, results)


def web_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


async def hold(args, port, token, cookie, leases, base, web_pid) -> dict:
    loop = asyncio.get_running_loop()
    per_lease = max(1, args.waiters // len(leases))
    tasks: list[asyncio.Task] = []

    def open_waiters(n: int) -> None:
        for _ in range(n):
            lease_id = leases[len(tasks) % len(leases)][0]
            path = f"/api/v1/leases/{lease_id}/code?wait=110&after=0"
            tasks.append(loop.create_task(get(port, path, token)))

    def settle(limit: float = 120) -> None:
        """Until the web process holds every waiter opened, and a second more."""
        end = time.monotonic() + limit
        while time.monotonic() < end and counters()[1] < len(tasks):
            time.sleep(0.1)
        # Each new waiter still reads its lease once after registering: let that finish.
        while time.monotonic() < end and qps(1) > 40:
            pass

    def qps(seconds: float):
        before, t = queries(), time.monotonic()
        time.sleep(seconds)
        return (queries() - before) / (time.monotonic() - t)

    open_waiters(50)
    await loop.run_in_executor(None, settle)
    q_50 = await loop.run_in_executor(None, qps, 4)
    open_waiters(args.waiters - 50)
    started = time.monotonic()
    await loop.run_in_executor(None, settle)
    took = time.monotonic() - started
    held = sum(1 for t in tasks if not t.done())
    q_all = await loop.run_in_executor(None, qps, 4)
    threads = web_threads(web_pid)
    busy = await loop.run_in_executor(None, dashboard, port, cookie, args.pages)
    # Deliveries: one SMS per lease, watched by per_lease waiters each.
    by_lease: dict[int, list[asyncio.Task]] = {}
    for i, task in enumerate(tasks):
        by_lease.setdefault(leases[i % len(leases)][0], []).append(task)
    latencies = []
    sms = base.replace("zsmcode/", "_sim/sms")
    for lease_id, phone in leases[: args.deliveries]:
        await loop.run_in_executor(
            None,
            functools.partial(
                requests.post, sms, data={"phoneNo": phone, "text": "验证码 482913"}, timeout=5
            ),
        )
        answers = await asyncio.wait_for(asyncio.gather(*by_lease[lease_id]), 20)
        for status, body, at in answers:
            if status == 200:
                stored = datetime.fromisoformat(body["received_at"].replace("Z", "+00:00"))
                latencies.append((at - stored.timestamp()) * 1000)
    for task in tasks:
        task.cancel()
    await asyncio.sleep(1)  # the server sees the disconnects
    return {
        "held": held,
        "q_50": q_50,
        "q_all": q_all,
        "busy": busy,
        "latencies": latencies,
        "per_lease": per_lease,
        "threads": threads,
        "took": took,
    }


def report(args, idle, r) -> None:
    vendor = "PostgreSQL + Redis" if os.environ.get("BENCH_DATABASE") == "postgres" else "SQLite"
    print(f"API long-polls on one uvicorn process, {vendor} — {machine()}")
    print(
        f"waiters held: {r['held']} of {args.waiters} ({r['per_lease']} per lease), "
        f"taken in within {r['took']:.1f} s; web process threads while holding: {r['threads']}"
    )
    p_idle, p_busy = percentile(idle, 95), percentile(r["busy"], 95)
    print(
        f"dashboard p95: idle {p_idle:.1f} ms, with waiters {p_busy:.1f} ms "
        f"(ratio {p_busy / p_idle:.2f}; medians {percentile(idle, 50):.1f} / "
        f"{percentile(r['busy'], 50):.1f} ms; n={len(idle)} idle, before and after, "
        f"n={len(r['busy'])} with waiters)"
    )
    lat = r["latencies"]
    if lat:
        print(
            f"stored code → waiting client: p50 {percentile(lat, 50):.0f} ms, "
            f"p95 {percentile(lat, 95):.0f} ms, max {max(lat):.0f} ms (n={len(lat)})"
        )
    print(
        f"queries/s of the web process while waiting: {r['q_50']:.1f} with 50 waiters, "
        f"{r['q_all']:.1f} with {r['held']}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif sys.argv[1:] == ["poll"]:
        poll()
    else:
        main()
