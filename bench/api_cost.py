"""The web process's CPU per API call, as the kits make them.

    .venv/bin/python bench/api_cost.py [--pairs 40] [--clients 8] [--team [--web-workers 2]]

A console as deployed (DEBUG off; ``--team``: PostgreSQL, Redis, gunicorn) on a fresh database,
the poller and a simulator (``bench/kits.py`` starts them the same way). Printed:

1. ``GET /api/v1/items``, 200 times from one client: the web process's CPU per request (a
   request's fixed cost: the server, the middleware, the token, one query);
2. a lease and its release (``POST /leases``, ``POST /leases/{id}/release``), ``--pairs`` times
   from one client, then from ``--clients`` clients at once: CPU per pair, and each call's time.

The web process's CPU is read from ``/proc`` (its process group: gunicorn's workers included).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

import requests
from common import fresh_database, machine, setup_django, start_simulator

from kits import console, for_a_team, group_cpu, stop


def lease_and_release(url: str, token: str, pairs: int, times: list[tuple[float, float]]) -> None:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    for _ in range(pairs):
        started = time.perf_counter()
        r = s.post(
            url + "/api/v1/leases",
            json={"item": "1001", "tag": "bench"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=60,
        )
        r.raise_for_status()
        leased = time.perf_counter()
        r = s.post(url + f"/api/v1/leases/{r.json()['leases'][0]['id']}/release", timeout=60)
        r.raise_for_status()
        times.append((leased - started, time.perf_counter() - leased))


def measure(web: int, clients: int, run, *args) -> tuple[float, float]:
    """(CPU seconds of the web process, wall seconds) while ``clients`` threads ``run(*args)``."""
    before, started = group_cpu(web), time.perf_counter()
    threads = [threading.Thread(target=run, args=args) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return group_cpu(web) - before, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--team", action="store_true", help="PostgreSQL, Redis and gunicorn")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (--team)")
    args = parser.parse_args()
    if args.team:
        for_a_team("bench-cost")
    print(machine())
    db_url = fresh_database("bench_api_cost")
    setup_django(db_url, ZHIMA_API_LEASES_PER_MINUTE=0, DJANGO_SECRET_KEY="bench-only-" + "x" * 50)
    sim, sim_base = start_simulator(auto_sms="false")
    url, token, procs = console(db_url, sim_base, args.web_workers if args.team else 0)
    web = procs[0].pid
    try:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"
        for _ in range(20):  # every process, thread and connection warmed up
            s.get(url + "/api/v1/items", timeout=10).raise_for_status()
        lease_and_release(url, token, 5, [])

        def items() -> None:
            for _ in range(200):
                s.get(url + "/api/v1/items", timeout=10).raise_for_status()

        cpu, wall = measure(web, 1, items)
        print(f"GET /api/v1/items, one client: web CPU {cpu / 200 * 1000:.1f} ms a request")
        for clients in (1, args.clients):
            times: list[tuple[float, float]] = []
            pairs = max(1, args.pairs // clients)
            cpu, wall = measure(web, clients, lease_and_release, url, token, pairs, times)
            n = len(times)
            lease = statistics.mean(t[0] for t in times) * 1000
            release = statistics.mean(t[1] for t in times) * 1000
            print(
                f"lease + release, {clients} client{'s' if clients > 1 else ''}: web CPU "
                f"{cpu / n * 1000:.1f} ms a pair; lease {lease:.0f} ms, release {release:.0f} ms "
                f"on average ({n} pairs in {wall:.1f} s)"
            )
    finally:
        stop(procs, sim)


if __name__ == "__main__":
    main()
