"""Requests per second the simulator serves on loopback (it must not be the bottleneck).

    .venv/bin/python bench/simulator_rps.py [--seconds 5] [--threads 16] [--runs 3]

Drives ``sms/get.php`` for a leased number over keep-alive connections from a thread pool,
in this process, against a simulator in a separate process (``manage.py runsimulator``), and
prints the median and spread of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import requests
from common import start_simulator


def run_once(base: str, seconds: float, threads: int, phone: str, cookie: dict) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        s = requests.Session()
        s.cookies.update(cookie)
        while time.monotonic() < stop:
            s.get(base + "sms/get.php", params={"itemId": "1002", "phoneNo": phone}, timeout=5)
            counts[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sim, base = start_simulator()
    try:
        s = requests.Session()
        s.get(
            base + "pkey/verification.php",
            params={"account": "demo", "pkey": "demo-pkey"},
            timeout=5,
        )
        phone = s.get(
            base + "phoneNos/get.php", params={"itemId": "1002", "quantity": "1"}, timeout=5
        ).json()["phoneNos"]
        rates = [
            run_once(base, args.seconds, args.threads, phone, s.cookies.get_dict())
            for _ in range(args.runs)
        ]
    finally:
        sim.terminate()
        sim.wait(10)
    print(
        f"simulator sms/get.php on loopback, {args.threads} client threads, "
        f"{args.runs} runs of {args.seconds:g} s"
    )
    print(
        f"requests/s: median {statistics.median(rates):.0f}, "
        f"min {min(rates):.0f}, max {max(rates):.0f}"
    )


if __name__ == "__main__":
    main()
