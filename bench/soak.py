"""The fault soak: leases under injected faults and killed workers, then a full account of
what happened, checked against the simulator's own ledger.

    .venv/bin/python bench/soak.py [--leases 10000] [--accounts 4] [--time-scale 10]
                                   [--kill-every 60] [--max-minutes 60] [--workers 1]
    BENCH_DATABASE=postgres REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/soak.py

The simulator answers 10 % of calls 2 s late (after acting: every call but the lease gives up
after 1 s; the lease call waits up to 5 s, as ``ZHIMA_LEASE_READ_TIMEOUT`` does), 5 % with
garbage, 2 % with HTTP 500, ends sessions every 2 simulated minutes and runs its clock
``--time-scale`` times faster (the console's deadlines are scaled alike). A django-q2 cluster
runs the poller and is killed with SIGKILL every ``--kill-every`` seconds and restarted; the
restarted cluster starts its poller loops by itself. Members lease numbers on several accounts
until ``--leases`` numbers are leased. Then the leases drain, each account is reconciled with
release all, and the figures are checked. Only loopback is used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

ITEMS = ("1001", "1002", "1003", "1005")


def console_env(scale: float, workers: int) -> dict[str, str]:
    return {
        "ZHIMA_POLL_INTERVAL": f"{5 / scale:g}",
        "ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES": f"{30 / scale:g}",
        "ZHIMA_RELEASE_MARGIN_MINUTES": f"{5 / scale:g}",
        "ZHIMA_READ_TIMEOUT": "1.0",
        "ZHIMA_LEASE_READ_TIMEOUT": "5.0",
        "ZHIMA_POLLER_STALE_SECONDS": "3",
        "ZHIMA_POLLER_RUN_SECONDS": "15",
        "ZHIMA_POLLER_SLOTS": str(workers),
        "Q_WORKERS": str(workers + 1),
        "LOG_LEVEL": "WARNING",
    }


def start_sim(accounts: int, scale: float):
    from common import start_simulator

    extra = [f"--account=a{i}:soak-pkey-{i}:10000000" for i in range(accounts)]
    proc, base = start_simulator(
        *extra,
        timeout_rate=0.10,
        timeout_seconds=2,
        garbage_rate=0.05,
        error_rate=0.02,
        session_minutes=2,
        time_scale=scale,
        seed=2026,
        pool_per_carrier=20000,
    )
    return proc, base.removesuffix("zsmcode/")


def start_cluster(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def setup_world(root: str, accounts: int, scale: float):
    from django.contrib.auth import get_user_model

    from accounts.audit import CallContext
    from accounts.models import DeveloperAccount, Membership, Role
    from leases import catalog
    from leases.errors import ServiceError

    User = get_user_model()
    manager = User.objects.create_user("soak-manager")
    operators = [User.objects.create_user(f"soak-op{i}") for i in range(4)]
    world = []
    for i in range(accounts):
        acc = DeveloperAccount(
            name=f"Soak {i}", upstream_account=f"a{i}", base_url=root + "zsmcode/"
        )
        acc.set_pkey(f"soak-pkey-{i}")
        acc.save()
        Membership.objects.create(user=manager, account=acc, role=Role.MANAGER)
        for op in operators:
            Membership.objects.create(user=op, account=acc, role=Role.OPERATOR)
        items = []
        for item_id in ITEMS:
            for _ in range(50):  # the faults apply here too; an item refresh is safe to retry
                try:
                    item = catalog.refresh_item(acc, item_id, CallContext.for_task("soak"))
                    break
                except ServiceError:
                    time.sleep(0.05)
            item.wait_limit_seconds = max(1, int(600 / scale))
            item.save(update_fields=["wait_limit_seconds"])
            items.append(item)
        world.append((acc, items))
    return manager, operators, world


def run(
    leases: int,
    accounts: int,
    scale: float,
    kill_every: float,
    max_minutes: float,
    workers: int,
    env: dict,
    say=print,
) -> dict:
    """Run the soak in a Django already set up with ``console_env`` settings."""
    from django.db import connection
    from django.utils import timezone

    from accounts.audit import settle_abandoned_calls
    from accounts.models import ApiCall
    from leases import services
    from leases.errors import AmbiguousLease, ServiceError
    from leases.models import Lease, LeaseRequest, Message
    from leases.tasks import ensure_schedules

    sim, root = start_sim(accounts, scale)
    cluster = None
    kills = 0
    try:
        manager, operators, world = setup_world(root, accounts, scale)
        ensure_schedules()  # as bootstrap declares them
        cluster = start_cluster(env)
        started = time.monotonic()
        lease_until = started + max_minutes * 60 * 0.7
        outcomes: Counter = Counter()
        # One thread per member, each pacing itself so that together they reach ``leases``
        # in about 60 % of the time (about 1.5 numbers a request, some refused by the faults);
        # the cluster is killed from this thread.
        aim_at = started + max_minutes * 60 * 0.6

        def pace() -> float:
            left = max(1, leases - Lease.objects.count())
            return min(5.0, len(operators) * max(0.0, aim_at - time.monotonic()) / (left / 1.5))

        stop = threading.Event()

        lock = threading.Lock()

        def member(n: int) -> None:
            rng = random.Random(7 + n)
            try:
                while not stop.is_set():
                    began = time.monotonic()
                    _acc, items = rng.choice(world)
                    item = rng.choice(items)
                    quantity = rng.randint(1, 3) if item.max_per_request > 1 else 1
                    try:
                        services.lease_numbers(
                            operators[n], item, key=uuid.uuid4().hex, quantity=quantity
                        )
                        outcome = "done"
                    except AmbiguousLease:
                        outcome = "ambiguous"
                    except ServiceError:
                        outcome = "refused"
                    with lock:
                        outcomes[outcome] += 1
                    spent = time.monotonic() - began
                    stop.wait(max(0.0, pace() * rng.uniform(0.5, 1.5) - spent))
            finally:
                connection.close()

        threads = [threading.Thread(target=member, args=(n,)) for n in range(len(operators))]
        for t in threads:
            t.start()
        next_kill = started + kill_every
        while Lease.objects.count() < leases and time.monotonic() < lease_until:
            if time.monotonic() >= next_kill:
                kill(cluster)
                kills += 1
                cluster = start_cluster(env)
                next_kill = time.monotonic() + kill_every
                say(
                    f"  {Lease.objects.count()} leases, {kills} kills, "
                    f"{time.monotonic() - started:.0f} s"
                )
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        ambiguous, refused = outcomes["ambiguous"], outcomes["refused"]
        drain_until = time.monotonic() + 120 + 60 * 35 / scale
        while Lease.objects.held().exists() and time.monotonic() < drain_until:
            time.sleep(1)
        for acc, _items in world:  # reconcile what lost answers may have leased
            for _ in range(30):
                try:
                    services.release_all(manager, acc)
                    break
                except ServiceError:
                    time.sleep(0.2)
        kill(cluster, signal.SIGTERM)
        cluster = None
        # Calls a killed worker left pending: their outcome is unknown now (the cluster's
        # every-minute task does this once no answer can come; here without waiting for it).
        settled = settle_abandoned_calls(timezone.now() + timedelta(hours=1))
        stats = requests.get(root + "_sim/stats", timeout=10).json()
        ledger = requests.get(root + "_sim/ledger", timeout=10).json()
        left = requests.get(root + "_sim/leases", timeout=10).json()
    finally:
        if cluster is not None:
            kill(cluster)
        sim.terminate()
        sim.wait(10)
    served = stats["requests"]
    rows = Counter(ApiCall.objects.values_list("endpoint", flat=True))
    unknown = ApiCall.objects.filter(outcome__in=("pending", "unknown")).count()
    key = lambda x: (x["account"], x["itemId"], x["phoneNo"])  # noqa: E731
    known = set(Lease.objects.values_list("account__upstream_account", "item__item_id", "phone"))
    texts = Counter(
        Message.objects.filter(direction="in").values_list(
            "lease__account__upstream_account", "lease__item__item_id", "lease__phone", "text"
        )
    )
    # The SMS the simulator put in an answer the console waited for.
    delivered = [(*key(x), t) for x in ledger for t in x["sms"]]
    calls_per_request: dict[int | None, list[str]] = {}
    for rid, outcome in (
        ApiCall.objects.filter(endpoint="get_numbers")
        .order_by("created_at", "id")
        .values_list("lease_request_id", "outcome")
    ):
        calls_per_request.setdefault(rid, []).append(outcome)
    # A get-numbers call that followed an ambiguous one (a transport error or an unreadable
    # answer) of the same request; a repeat after a session-expired refusal is by design.
    repeated = sum(
        1
        for outcomes in calls_per_request.values()
        for earlier in outcomes[:-1]
        if earlier in ("transport", "unreadable", "pending", "unknown")
    )
    forced = {key(x) for x in ledger if x["ended"] == "forced"}
    forced_leases = [
        (
            lease.state,
            lease.end_text[:60],
            str(lease.ended_at - lease.leased_at) if lease.ended_at else "still held",
        )
        for lease in Lease.objects.select_related("account", "item")
        if (lease.account.upstream_account, lease.item.item_id, lease.phone) in forced
    ]
    return {
        "leases": Lease.objects.count(),
        "lease requests": LeaseRequest.objects.count(),
        "ambiguous lease requests": ambiguous,
        "ambiguous lease requests by reason": dict(
            Counter(LeaseRequest.objects.filter(outcome="ambiguous").values_list("msg", flat=True))
        ),
        "refused lease requests": refused,
        "automatic release-all on idle accounts (reconcile)": ApiCall.objects.filter(
            endpoint="release_all", actor="task:reconcile"
        ).count(),
        "worker kills": kills,
        "faults injected": sum(stats["faults"].values()) + kills,
        "faults by kind": {**stats["faults"], "sigkill": kills},
        "requests served": sum(served.values()),
        "audit rows": sum(rows.values()),
        "audit rows lost": sum(max(0, n - rows.get(e, 0)) for e, n in served.items()),
        "audit rows with an unknown outcome (worker killed mid-call)": unknown,
        "audit rows settled as unknown at the end": settled,
        "audit rows for requests never served": sum(
            max(0, n - served.get(e, 0)) for e, n in rows.items()
        ),
        "audit by endpoint (served, rows)": {
            e: [served.get(e, 0), rows.get(e, 0)] for e in sorted(set(served) | set(rows))
        },
        "SMS delivered": len(delivered),
        "SMS lost": sum(1 for d in delivered if texts.get(d, 0) == 0),
        "SMS stored twice": sum(1 for d in delivered if texts.get(d, 0) > 1),
        "numbers leased": len(ledger),
        "numbers leased by a late answer": sum(1 for x in ledger if not x["answered"]),
        "numbers without a lease": sum(1 for x in ledger if key(x) not in known),
        "numbers left leased upstream": len(left),
        "numbers force-released": len(forced),
        "leases not final": Lease.objects.held().count(),
        "get-numbers repeated after an ambiguous failure": repeated,
        "force-released leases (state, reason, held for)": forced_leases[:10],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leases", type=int, default=10000)
    ap.add_argument("--accounts", type=int, default=4)
    ap.add_argument("--time-scale", type=float, default=10)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--max-minutes", type=float, default=60)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    from common import fresh_database, machine, setup_django

    db = fresh_database("bench_soak")
    env = {
        **console_env(args.time_scale, args.workers),
        "DATABASE_URL": db,
        "DJANGO_DEBUG": "true",
        "ZHIMA_FIELD_KEYS": os.environ.get(
            "ZHIMA_FIELD_KEYS", "eXhXGsv9fXajin3-lVgh4cMq5Z_UZyrQMIDGF910wds="
        ),
    }
    setup_django(db, **env)
    t = time.monotonic()
    figures = run(
        args.leases,
        args.accounts,
        args.time_scale,
        args.kill_every,
        args.max_minutes,
        args.workers,
        env,
    )
    engine = os.environ.get("BENCH_DATABASE", "sqlite") + (
        " + Redis" if os.environ.get("REDIS_URL") else " + ORM broker"
    )
    print(f"Fault soak on {engine}, {time.monotonic() - t:.0f} s — {machine()}")
    for key, value in figures.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
