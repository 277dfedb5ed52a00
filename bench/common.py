"""Shared by the benchmarks: a Django set up on a database of the benchmark's own, a
simulator in a separate process, and figures."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_KEY = "eXhXGsv9fXajin3-lVgh4cMq5Z_UZyrQMIDGF910wds="


def database_url(name: str) -> str:
    """SQLite file under var/ by default; with BENCH_DATABASE=postgres, a PostgreSQL database
    of that name on BENCH_PG (default postgres://postgres@127.0.0.1:5432)."""
    if os.environ.get("BENCH_DATABASE") == "postgres":
        server = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
        return f"{server}/{name}"
    (ROOT / "var").mkdir(exist_ok=True)
    return f"sqlite:///{ROOT / 'var' / (name + '.sqlite3')}"


def fresh_database(name: str) -> str:
    url = database_url(name)
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-bell"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        server = url.rsplit("/", 1)[0]
        subprocess.run(
            ["psql", server + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["psql", server + "/postgres", "-qc", f"CREATE DATABASE {name}"],
            check=True,
            capture_output=True,
        )
    return url


def setup_django(db_url: str, **env) -> None:
    os.environ.update(
        {
            "DATABASE_URL": db_url,
            "DJANGO_DEBUG": "true",
            "LOG_LEVEL": "WARNING",
            "ZHIMA_FIELD_KEYS": BENCH_KEY,
            "DJANGO_SETTINGS_MODULE": "zhima_site.settings",
            **{k: str(v) for k, v in env.items()},
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(*args: str, **knobs):
    """A simulator process (``args``: extra ``runsimulator`` options); returns
    (process, base_url)."""
    import requests

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        **{f"ZHIMA_SIM_{k.upper()}": str(v) for k, v in knobs.items()},
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runsimulator", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own: its CPU can be counted
    )
    base = f"http://127.0.0.1:{port}/zsmcode/"
    for _ in range(200):
        try:
            requests.get(base.replace("zsmcode/", "_sim/stats"), timeout=1)
            return proc, base
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the simulator did not start")


def sim_stats(base: str) -> dict:
    import requests

    return requests.get(base.replace("zsmcode/", "_sim/stats"), timeout=5).json()


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values) -> str:
    return (
        f"median {statistics.median(values):.3f}, min {min(values):.3f}, "
        f"max {max(values):.3f} (n={len(values)})"
    )


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
