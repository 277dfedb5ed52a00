"""The live lease fragment under load: simulated browsers polling it every second, against
gunicorn, and the 95th-percentile response time seen on loopback (an upper bound of the
server's time).

    .venv/bin/python bench/fragment_load.py [--browsers 50] [--seconds 30] [--workers 4]

Half the browsers have seen the latest version (the server answers 204), half have not (a
rendered fragment). The load generator is bounded in count and time, and only talks to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import threading
import time

import requests
from common import ROOT, free_port, fresh_database, machine, percentile, setup_django


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--browsers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    db = fresh_database("bench_fragment")
    setup_django(db)
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("seed_demo", "--leases", "2000", "--audit", "10000", verbosity=0)
    from leases.models import Lease

    user = get_user_model().objects.get(username="demo0")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    session_key = session.session_key
    assert session_key is not None  # save() gave it one
    lease = Lease.objects.filter(code__gt="").order_by("-id").first()
    assert lease is not None, "the seeded data has leases with codes"
    Lease.objects.filter(pk=lease.pk).update(state="received")  # a live lease, still polled
    lease.refresh_from_db()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "DJANGO_DEBUG": "true", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "zhima_site.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/leases/{lease.pk}/"
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        times, statuses = [], []
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def browser(k: int) -> None:
            s = requests.Session()
            s.cookies.set(settings.SESSION_COOKIE_NAME, session_key)
            version = lease.version if k % 2 == 0 else 0
            time.sleep(random.random())
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = s.get(url, params={"v": version}, headers={"HX-Request": "true"}, timeout=10)
                with lock:
                    times.append((time.perf_counter() - t) * 1000)
                    statuses.append(r.status_code)
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))

        threads = [threading.Thread(target=browser, args=(k,)) for k in range(args.browsers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        server.terminate()
        server.wait(10)
    codes = {c: statuses.count(c) for c in sorted(set(statuses))}
    print(
        f"Live fragment under load: {args.browsers} browsers × 1/s for {args.seconds:g} s, "
        f"gunicorn -w {args.workers} — {machine()}"
    )
    print(
        f"{len(times)} requests {codes}; response ms median {percentile(times, 50):.1f}, "
        f"p95 {percentile(times, 95):.1f}, p99 {percentile(times, 99):.1f}, "
        f"max {max(times):.1f}"
    )


if __name__ == "__main__":
    main()
