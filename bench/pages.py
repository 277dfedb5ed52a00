"""Pages at scale: server time of the main pages at a small and a large history.

    .venv/bin/python bench/pages.py [--small 1000:5000] [--large 1000000:5000000] [--requests 30]
    BENCH_DATABASE=postgres .venv/bin/python bench/pages.py ...

Each size gets a fresh database seeded by ``manage.py seed_demo``; each page is requested
through Django's test client (in process, so the time is the server's), warmed up, then timed
``--requests`` times; the queries per page are counted. Prints median and 95th percentile in
milliseconds, and the ratio large ÷ small of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from common import ROOT, database_url, fresh_database, machine, percentile


def measure(size: str, leases: int, audit: int, requests: int, reuse: bool) -> dict:
    name = f"bench_pages_{size}"
    db = database_url(name) if reuse else fresh_database(name)
    env = {**os.environ, "DATABASE_URL": db, "DJANGO_DEBUG": "true", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    t = time.monotonic()
    if not reuse:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "seed_demo",
                "--leases",
                str(leases),
                "--audit",
                str(audit),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    seeded = time.monotonic() - t
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(requests)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["seed_seconds"] = round(seeded, 1)
    return result


def worker(requests: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import ApiCall
    from leases.models import Lease
    from zhima_site.paging import encode_cursor

    client = Client(HTTP_HOST="127.0.0.1")
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="demo0"))
    total = Lease.objects.count()
    deep = Lease.objects.order_by("-leased_at", "-id").values_list("leased_at", "id")[total // 2]
    lease = Lease.objects.filter(code__gt="").order_by("-id").first()
    assert lease is not None, "the seeded data has leases with codes"
    audit_deep = ApiCall.objects.order_by("-created_at", "-id").values_list("created_at", "id")[
        ApiCall.objects.count() // 2
    ]
    pages: dict[str, tuple[str, dict[str, Any]]] = {
        "overview": ("/", {}),
        "history first page": ("/history/", {}),
        "history filtered": ("/history/?state=released&item=1002", {}),
        "history search": (f"/history/?q={lease.phone}", {}),
        "history deep page": (f"/history/?cursor={encode_cursor(*deep)}", {}),
        "audit log": ("/audit/", {}),
        "audit filtered": ("/audit/?endpoint=release&outcome=ok", {}),
        "audit deep page": (f"/audit/?cursor={encode_cursor(*audit_deep)}", {}),
        "lease fragment": (f"/leases/{lease.pk}/?v=0", {"HTTP_HX_REQUEST": "true"}),
    }
    result = {}
    for name, (url, headers) in pages.items():
        for _ in range(3):
            assert client.get(url, **headers).status_code in (200, 286)
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            client.get(url, **headers)
            times.append((time.perf_counter() - t) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(url, **headers)
        result[name] = {
            "median_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "queries": len(ctx),
        }
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", default="1000:5000")
    ap.add_argument("--large", default="1000000:5000000")
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--worker", type=int)
    ap.add_argument("--reuse", action="store_true", help="measure the databases seeded before")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    sizes = {}
    for size, spec in (("small", args.small), ("large", args.large)):
        leases, audit = (int(x) for x in spec.split(":"))
        sizes[size] = measure(size, leases, audit, args.requests, args.reuse)
    engine = os.environ.get("BENCH_DATABASE", "sqlite")
    print(f"Pages at scale on {engine} — {machine()}")
    print(
        f"small: {args.small} (seeded in {sizes['small']['seed_seconds']} s); "
        f"large: {args.large} (seeded in {sizes['large']['seed_seconds']} s); "
        f"leases:audit rows; {args.requests} requests per page"
    )
    print(
        f"{'page':<22}{'small med':>10}{'p95':>8}{'large med':>11}{'p95':>8}"
        f"{'ratio':>7}{'queries':>10}"
    )
    for name, small in sizes["small"].items():
        if name == "seed_seconds":
            continue
        large = sizes["large"][name]
        ratio = large["median_ms"] / small["median_ms"]
        print(
            f"{name:<22}{small['median_ms']:>10.1f}{small['p95_ms']:>8.1f}"
            f"{large['median_ms']:>11.1f}{large['p95_ms']:>8.1f}{ratio:>7.2f}"
            f"{small['queries']:>5}/{large['queries']}"
        )


if __name__ == "__main__":
    main()
