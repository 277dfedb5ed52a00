"""Call economy: upstream calls made ÷ the minimum needed, over a mixed run.

    .venv/bin/python bench/economy.py [--minutes 10]

A team leases a number about every 3 seconds (items of types 1, 2, 3 and 5) while the
poller runs; the simulator answers in 20 ms and sends each SMS after 3–12 s, losing or timing
out a few. The minimum is what the work needs and no more: one verification per 14 minutes
per account, one lease call per request, ⌈wait ÷ 5 s⌉ polls per lease, and one release call
per item and batch in which numbers ended together.
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
import uuid
from collections import Counter

from common import fresh_database, machine, setup_django, sim_stats, start_simulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    sim, base = start_simulator(latency_ms=20)
    try:
        setup_django(fresh_database("bench_economy"))
        from django.contrib.auth import get_user_model

        from accounts.audit import CallContext
        from accounts.models import DeveloperAccount, Membership, Role
        from leases import catalog, services
        from leases.models import Lease
        from leases.poller import Poller

        account = DeveloperAccount(name="Bench", upstream_account="demo", base_url=base)
        account.set_pkey("demo-pkey")
        account.save()
        ctx = CallContext.for_task("bench")
        items = [catalog.refresh_item(account, i, ctx) for i in ("1001", "1002", "1003", "1005")]
        users = [get_user_model().objects.create_user(f"u{i}") for i in range(3)]
        for u in users:
            Membership.objects.create(user=u, account=account, role=Role.OPERATOR)
        stop = threading.Event()
        loop = threading.Thread(target=Poller(run_seconds=args.minutes * 60 + 120, stop=stop).run)
        loop.start()
        rng = random.Random(3)
        end = time.monotonic() + args.minutes * 60 - 60  # the last minute lets leases finish
        while time.monotonic() < end:
            item = rng.choice(items)
            services.lease_numbers(
                rng.choice(users),
                item,
                key=uuid.uuid4().hex,
                quantity=2 if item.item_id == "1002" else 1,
            )
            time.sleep(rng.uniform(1, 5))
        deadline = time.monotonic() + 100
        while (
            Lease.objects.held()
            .exclude(item__item_id__in=["1003", "1005"], state="received")
            .exists()
            and time.monotonic() < deadline
        ):
            time.sleep(1)
        stop.set()
        loop.join()
        made = sim_stats(base)["requests"]
        leases = list(Lease.objects.all())
        polls_min = 0
        for lease in leases:
            waited = (lease.received_at or lease.ended_at or lease.leased_at) - lease.leased_at
            polls_min += max(1, math.ceil(waited.total_seconds() / 5 - 0.2))
        batches = Counter(
            (x.item_id, x.ended_at.replace(microsecond=0))
            for x in leases
            if x.ended_at and x.state != "blocked"
        )
        minimum = {
            "verify": math.ceil(args.minutes / 14) + 1,  # the item refresh's own, at start
            "details": len(items),
            "get_numbers": Lease.objects.values("request").distinct().count(),
            "get_sms": polls_min,
            "release": len(batches),
        }
    finally:
        sim.terminate()
    total_made, total_min = sum(made.values()), sum(minimum.values())
    print(f"Call economy over {args.minutes:g} min, {len(leases)} leases — {machine()}")
    for name in sorted(set(made) | set(minimum)):
        print(f"  {name:<12} made {made.get(name, 0):>6}  minimum {minimum.get(name, 0):>6}")
    print(f"calls made {total_made}, minimum {total_min}, ratio {total_made / total_min:.3f}")


if __name__ == "__main__":
    main()
