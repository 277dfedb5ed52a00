"""The poller: capacity, efficiency against a bare thread pool, and memory over time.

    .venv/bin/python bench/poller.py capacity [--leases 1000,2000,3000] [--seconds 40] [--workers 1]
    .venv/bin/python bench/poller.py efficiency [--seconds 20]
    .venv/bin/python bench/poller.py memory [--minutes 10]

capacity   For each number of waiting leases, one poller (or ``--workers`` processes, one slot
           each) polls them for ``--seconds`` against a simulator answering in 50 ms; the gap
           between two polls of one lease is read from the audit rows. The cadence holds when
           the 99th percentile gap is at most 6 s.
efficiency The poller flat out (every lease always due) against a bare ``requests`` thread pool
           of the same size calling the same simulator: polls per second ÷ calls per second.
memory     The poller's resident memory, sampled every 10 s while it polls 2,000 leases.

``BENCH_DATABASE=postgres`` runs on PostgreSQL (with ``REDIS_URL`` set, Redis is the cache).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

from common import (
    ROOT,
    fresh_database,
    machine,
    percentile,
    rss_mb,
    setup_django,
    sim_stats,
    start_simulator,
)

CONCURRENCY = 32


def prepare(n: int, base: str):
    """A sandbox account on the simulator with ``n`` waiting leases, due over 5 seconds."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import DeveloperAccount
    from accounts.upstream.client import ZhimaClient
    from leases.models import Item, Lease

    account = DeveloperAccount(name="Bench", upstream_account="demo", base_url=base)
    account.set_pkey("demo-pkey")
    account.save()
    item = Item.objects.create(
        account=account,
        item_id="1002",
        name="bench",
        status=1,
        type=2,
        price_raw="0.2",
        tiers=[],
    )
    user = get_user_model().objects.create_user("bench")
    client = ZhimaClient(base, "demo", "demo-pkey")
    phones: list[str] = []
    while len(phones) < n:
        phones += client.get_numbers("1002", min(10, n - len(phones)))
    now = timezone.now()
    Lease.objects.bulk_create(
        [
            Lease(
                account=account,
                item=item,
                phone=p,
                user=user,
                leased_at=now,
                next_poll_at=now + timedelta(seconds=5 * i / n),
                wait_deadline=now + timedelta(hours=1),
                release_deadline=now + timedelta(hours=1),
            )
            for i, p in enumerate(phones)
        ],
        batch_size=2000,
    )
    return account


def gaps(since) -> list[float]:
    from accounts.models import ApiCall

    times = defaultdict(list)
    for phone, at in (
        ApiCall.objects.filter(endpoint="get_sms", created_at__gte=since)
        .values_list("phone", "created_at")
        .order_by("created_at")
    ):
        times[phone].append(at)
    out = []
    for stamps in times.values():
        out += [(b - a).total_seconds() for a, b in pairwise(stamps)]
    return out


def run_pollers(workers: int, seconds: float, env: dict) -> None:
    from leases.poller import Poller

    if workers == 1:
        Poller(slot=0, run_seconds=seconds, concurrency=CONCURRENCY).run()
        return
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "slot", str(i), str(seconds)],
            cwd=ROOT / "bench",
            env={**os.environ, **env},
        )
        for i in range(workers)
    ]
    for p in procs:
        p.wait()


def capacity(args) -> None:
    print(f"Poller capacity, {args.workers} worker process(es), simulator at 50 ms — {machine()}")
    print(f"{'leases':>7}{'polls/s':>9}{'p50 gap':>9}{'p99 gap':>9}{'max gap':>9}  cadence")
    for n in [int(x) for x in args.leases.split(",")]:
        db = fresh_database(f"bench_poller_{n}")
        os.environ["DATABASE_URL"] = db
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "capacity-one",
                str(n),
                str(args.seconds),
                str(args.workers),
            ],
            cwd=ROOT / "bench",
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": db},
        )
        print(out.stdout.strip() or out.stderr[-2000:], flush=True)


def capacity_one(n: int, seconds: float, workers: int) -> None:
    from django.utils import timezone

    sim, base = start_simulator(
        latency_ms=50,
        auto_sms="false",
        sms_lost_rate=0,
        sms_timeout_rate=0,
        pool_per_carrier=max(3000, n),
    )
    try:
        setup_django(os.environ["DATABASE_URL"], ZHIMA_POLL_INTERVAL=5, ZHIMA_POLLER_SLOTS=workers)
        prepare(n, base)
        start = timezone.now()
        before = sim_stats(base)["requests"].get("get_sms", 0)
        t = time.monotonic()
        run_pollers(workers, seconds, {"DATABASE_URL": os.environ["DATABASE_URL"]})
        elapsed = time.monotonic() - t
        polls = sim_stats(base)["requests"].get("get_sms", 0) - before
        g = gaps(start + timedelta(seconds=5))
        ok = percentile(g, 99) <= 6.0
        print(
            f"{n:>7}{polls / elapsed:>9.0f}{percentile(g, 50):>9.2f}{percentile(g, 99):>9.2f}"
            f"{max(g):>9.2f}  {'holds' if ok else 'MISSED'}"
        )
    finally:
        sim.terminate()


def slot(i: int, seconds: float) -> None:
    setup_django(os.environ["DATABASE_URL"], ZHIMA_POLL_INTERVAL=5)
    from leases.poller import Poller

    Poller(slot=i, run_seconds=seconds, concurrency=CONCURRENCY).run()


def efficiency(args) -> None:
    import requests

    db = fresh_database("bench_poller_eff")
    sim, base = start_simulator(
        latency_ms=5, auto_sms="false", sms_lost_rate=0, sms_timeout_rate=0, pool_per_carrier=3000
    )
    try:
        setup_django(db, ZHIMA_POLL_INTERVAL=0.05)
        prepare(2000, base)
        from leases.poller import Poller

        before = sim_stats(base)["requests"].get("get_sms", 0)
        t = time.monotonic()
        Poller(run_seconds=args.seconds, concurrency=CONCURRENCY).run()
        poller_rate = (sim_stats(base)["requests"]["get_sms"] - before) / (time.monotonic() - t)
        session = requests.Session()
        session.get(
            base + "pkey/verification.php",
            params={"account": "demo", "pkey": "demo-pkey"},
            timeout=5,
        )
        phone = session.get(base + "phoneNos/get.php", params={"itemId": "1001"}, timeout=5).json()[
            "phoneNos"
        ]
        stop = time.monotonic() + args.seconds
        counts = [0] * CONCURRENCY

        def worker(k):
            s = requests.Session()
            s.cookies.update(session.cookies.get_dict())
            while time.monotonic() < stop:
                s.get(base + "sms/get.php", params={"itemId": "1001", "phoneNo": phone}, timeout=5)
                counts[k] += 1

        t = time.monotonic()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        bare_rate = sum(counts) / (time.monotonic() - t)
    finally:
        sim.terminate()
    print(f"Poller efficiency, {CONCURRENCY} threads each, simulator at 5 ms — {machine()}")
    print(
        f"poller {poller_rate:.0f} polls/s (audited, written); bare requests pool "
        f"{bare_rate:.0f} calls/s; ratio {poller_rate / bare_rate:.2f}"
    )


def memory(args) -> None:
    db = fresh_database("bench_poller_mem")
    sim, base = start_simulator(
        latency_ms=50, auto_sms="false", sms_lost_rate=0, sms_timeout_rate=0, pool_per_carrier=3000
    )
    samples = []
    try:
        setup_django(db, ZHIMA_POLL_INTERVAL=5)
        prepare(2000, base)
        from leases.poller import Poller

        stop = threading.Event()
        loop = threading.Thread(
            target=Poller(run_seconds=args.minutes * 60 + 5, concurrency=CONCURRENCY, stop=stop).run
        )
        loop.start()
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(10)
            samples.append(rss_mb())
        stop.set()
        loop.join()
    finally:
        sim.terminate()
    first = samples[min(5, len(samples) - 1)]  # after a minute of warm-up
    print(f"Poller memory over {args.minutes} min, 2,000 waiting leases — {machine()}")
    print(
        f"RSS at 1 min {first:.1f} MB, at end {samples[-1]:.1f} MB, max {max(samples):.1f} MB;"
        f" growth {100 * (samples[-1] - first) / first:+.1f} %"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "slot":
        return slot(int(sys.argv[2]), float(sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "capacity-one":
        return capacity_one(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["capacity", "efficiency", "memory"])
    ap.add_argument("--leases", default="1000,2000,3000")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    {"capacity": capacity, "efficiency": efficiency, "memory": memory}[args.what](args)


if __name__ == "__main__":
    main()
