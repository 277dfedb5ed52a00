"""The test kits' cost per test, and a Playwright Test suite's wall time against its code waits.

    .venv/bin/python bench/kits.py [--tests 40] [--workers 8] [--pw-workers 4] [--repeat 3]
                                   [--team [--web-workers 2]]

A console on a fresh database, run as deployed (DEBUG off), and a simulator process are started
here: by default on the embedded defaults (SQLite, the ORM broker, the disk cache, one uvicorn
process, the poller in a qcluster); with ``--team`` as README's "Running for a team" runs it
(PostgreSQL, Redis as broker and cache, gunicorn with uvicorn workers), the deployment for
several CI suites sharing a console. Three runs:

1. pytest-zhima (pip-installed with pytest-xdist): ``--tests`` tests under ``-n --workers``,
   ``--repeat`` times (one run varies from the next by tens of milliseconds; their mean is the
   figure).
   Each test sends its SMS through ``/_sim/sms`` and calls ``wait_code()`` at once, as a real
   suite does. The kit's overhead per test is the fixture's setup (the lease) + its teardown
   (the release) + the part of the ``wait_code()`` call after the console stored the SMS (its
   ``received_at``, against the same machine's clock): the wait for the poller to fetch the
   SMS is the code wait itself, not the kit's.
2. playwright-zhima, the same suite under ``--workers`` workers, ``--repeat`` times: each
   test's duration (fixtures included) less the time its body spent sending the SMS and
   waiting for the console to store it.
3. playwright-zhima, ``--tests`` tests under ``--pw-workers`` workers, the simulator texting a
   code 2 to 6 s after each lease and the poller at its 5 s cadence: the suite's wall time
   (``npx playwright test``, start to exit) ÷ the longest worker's summed ``waitCode()`` time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import ROOT, free_port, fresh_database, machine, setup_django, start_simulator

sys.path.insert(0, str(ROOT))
from tests.kit.node import KIT, ensure_built, kit_env
from tests.kit.pipkit import install_kit

PY_SUITE = """
import json, os, time
from datetime import datetime

import pytest, requests

SIM, OUT = os.environ["ZHIMA_SIM_URL"], os.environ["BENCH_OUT"]


@pytest.mark.parametrize("n", range(int(os.environ["BENCH_TESTS"])))
def test_code(zhima_number, n):
    requests.post(SIM + "/_sim/sms", timeout=5,
                  data={"phoneNo": zhima_number.phone, "text": f"Your code is {n:06d}."})
    started = time.time()
    assert zhima_number.wait_code(timeout=30) == f"{n:06d}"
    ended = time.time()
    stored = datetime.fromisoformat(zhima_number.last_message["received_at"]).timestamp()
    with open(OUT, "a") as f:
        row = {"id": f"test_code[{n}]", "wait": ended - max(started, stored)}
        f.write(json.dumps(row) + "\\n")
"""

PY_CONFTEST = """
import json, os


def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        name = report.nodeid.split("::")[-1]
        with open(os.environ["BENCH_OUT"], "a") as f:
            f.write(json.dumps({"id": name, report.when: report.duration}) + "\\n")
"""

PW_CONFIG = """
import { defineConfig } from '@playwright/test';
export default defineConfig({
  testDir: '.',
  fullyParallel: true,
  reporter: [['json', { outputFile: process.env.BENCH_REPORT! }]],
});
"""

PW_OVERHEAD = """
import { appendFileSync } from 'node:fs';
import { test } from 'playwright-zhima';
const SIM = process.env.ZHIMA_SIM_URL!;
for (let n = 0; n < Number(process.env.BENCH_TESTS); n++) {
  test(`code ${n}`, async ({ zhimaNumber }) => {
    const started = performance.now();
    await fetch(`${SIM}/_sim/sms`, { method: 'POST', body: new URLSearchParams(
      { phoneNo: zhimaNumber.phone, text: `Your code is ${String(n).padStart(6, '0')}.` }) });
    const sent = performance.now();
    const waitFrom = Date.now();
    await zhimaNumber.waitCode({ timeout: 30_000 });
    const stored = Date.parse(zhimaNumber.lastMessage!.received_at);
    const other = sent - started + Math.max(0, stored - waitFrom);
    appendFileSync(process.env.BENCH_OUT!, JSON.stringify({ title: `code ${n}`, other }) + '\\n');
  });
}
"""

PW_WALL = """
import { appendFileSync } from 'node:fs';
import { test } from 'playwright-zhima';
for (let n = 0; n < Number(process.env.BENCH_TESTS); n++) {
  test(`code ${n}`, async ({ zhimaNumber }, testInfo) => {
    const started = performance.now();
    await zhimaNumber.waitCode({ timeout: 60_000 });
    const wait = (performance.now() - started) / 1000;
    appendFileSync(process.env.BENCH_OUT!,
      JSON.stringify({ worker: testInfo.parallelIndex, wait }) + '\\n');
  });
}
"""


def console(db_url: str, sim_base: str, web_workers: int = 0):
    """Accounts, items and a token in the database, then the web and the poller."""
    from django.contrib.auth import get_user_model
    from django_q.tasks import async_task

    from accounts import tokens
    from accounts.audit import CallContext
    from accounts.models import DeveloperAccount, Membership, Role
    from leases.catalog import refresh_item
    from leases.tasks import ensure_schedules

    acc = DeveloperAccount(name="Sandbox", upstream_account="demo", base_url=sim_base)
    acc.sandbox = True
    acc.set_pkey("demo-pkey")
    acc.save()
    user = get_user_model().objects.create_user("qa", "qa@example.com", "pw-qa")
    Membership.objects.create(user=user, account=acc, role=Role.OPERATOR)
    for item in ("1001", "1005"):
        refresh_item(acc, item, CallContext.for_task("bench"))
    _row, token = tokens.issue(user, "bench")
    ensure_schedules()
    async_task("leases.tasks.run_poller", 0)
    # As deployed: DEBUG off (no query log), plain HTTP on the loopback.
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    port = free_port()
    app, address = "zhima_site.asgi:application", ["127.0.0.1", str(port)]
    if web_workers:  # README "Running for a team": gunicorn with uvicorn workers
        command = [str(Path(sys.executable).with_name("gunicorn")), "-c"]
        command += ["python:zhima_site.gunicorn_conf", app, "-b", ":".join(address)]
        command += ["-w", str(web_workers), "--log-level", "warning"]
    else:  # README command (a)'s web server: one uvicorn process
        command = [sys.executable, "-m", "uvicorn", app, "--host", address[0], "--port"]
        command += [address[1], "--no-access-log", "--log-level", "warning", "--no-proxy-headers"]
    web = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # fmt: skip
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**env, "Q_WORKERS": "2"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    return url, token, [web, cluster]


def for_a_team(name: str) -> None:
    """The console as README's "Running for a team" deploys it: PostgreSQL (``BENCH_PG``),
    Redis (``BENCH_REDIS``) as broker and cache, a cluster and cache prefix of its own."""
    os.environ["BENCH_DATABASE"] = "postgres"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
    os.environ["Q_CLUSTER_NAME"] = os.environ["CACHE_KEY_PREFIX"] = f"{name}-{os.getpid()}"


def stop(procs: list[subprocess.Popen], sim: subprocess.Popen) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
    sim.kill()


def group_cpu(pid: int) -> float:
    """CPU seconds used so far by the live processes of ``pid``'s process group."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == pid:  # pgrp
            total += (int(stat[11]) + int(stat[12])) / tick  # utime + stime
    return total


class CpuShare:
    """CPU per test of each process while a suite runs: where a test's cost goes."""

    def __init__(self, groups: dict[str, int]):
        self.groups = groups
        self.before = {name: group_cpu(pid) for name, pid in groups.items()}
        self.children = _children_cpu()

    def line(self, tests: int) -> str:
        spent = {name: group_cpu(pid) - self.before[name] for name, pid in self.groups.items()}
        spent["the suite's processes"] = _children_cpu() - self.children
        parts = ", ".join(f"{name} {s / tests * 1000:.0f}" for name, s in spent.items())
        return f"  CPU per test (ms): {parts}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def bench_pytest(
    work: Path, env: dict, tests: int, workers: int, groups: dict[str, int], repeat: int
) -> None:
    site = install_kit(work, "pytest-xdist", "execnet")
    suite = work / "suite"
    suite.mkdir()
    (suite / "test_bench.py").write_text(PY_SUITE)
    (suite / "conftest.py").write_text(PY_CONFTEST)
    (suite / "pytest.ini").write_text("[pytest]\n")
    means = []
    for run in range(repeat):
        out = work / f"py-{run}.jsonl"
        run_env = {**kit_env(**env), "PYTHONPATH": str(site), "BENCH_OUT": str(out)}
        run_env["BENCH_TESTS"] = str(tests)
        share = CpuShare(groups)
        started = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", str(workers), "-p", "no:cacheprovider",
             "-p", "no:django", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
             "-p", "no:anyio", "-p", "no:playwright"],
            cwd=suite, env=run_env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        wall = time.monotonic() - started
        if r.returncode:
            sys.exit(r.stdout + r.stderr)
        per: dict[str, dict] = {}
        for row in lines(out):
            per.setdefault(row.pop("id"), {}).update(row)
        setup = [p["setup"] for p in per.values()]
        teardown = [p["teardown"] for p in per.values()]
        wait = [p["wait"] for p in per.values()]
        total = [p["setup"] + p["teardown"] + p["wait"] for p in per.values()]
        means.append(statistics.mean(total))
        print(
            f"pytest-zhima, {len(per)} tests, -n {workers}: kit overhead per test "
            f"{statistics.mean(total) * 1000:.0f} ms average, "
            f"{sorted(total)[int(len(total) * 0.95) - 1] * 1000:.0f} ms p95 "
            f"(lease {statistics.mean(setup) * 1000:.0f} + release "
            f"{statistics.mean(teardown) * 1000:.0f} + wait call "
            f"{statistics.mean(wait) * 1000:.0f} ms); suite {wall:.1f} s"
        )
        print(share.line(len(per)))
    print_mean("pytest-zhima", means)


def print_mean(kit: str, means: list[float]) -> None:
    """Runs vary by tens of milliseconds: the figure is their mean."""
    if len(means) > 1:
        runs = ", ".join(f"{m * 1000:.0f}" for m in means)
        print(
            f"{kit}: mean of {len(means)} runs {statistics.mean(means) * 1000:.0f} ms per test "
            f"({runs})"
        )


def playwright(project: Path, spec: str, env: dict, tests: int, workers: int):
    for old in project.glob("*.spec.ts"):
        old.unlink()
    (project / "bench.spec.ts").write_text(spec)
    out, report = project / "out.jsonl", project / "report.json"
    out.unlink(missing_ok=True)
    run_env = kit_env(**env, BENCH_OUT=str(out), BENCH_REPORT=str(report),
                      BENCH_TESTS=str(tests))  # fmt: skip
    started = time.monotonic()
    r = subprocess.run(
        ["npx", "playwright", "test", "--workers", str(workers)],
        cwd=project, env=run_env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    wall = time.monotonic() - started
    if r.returncode:
        sys.exit(r.stdout + r.stderr)
    return wall, json.loads(report.read_text()), lines(out)


def bench_playwright_overhead(
    project: Path, env: dict, tests: int, workers: int, groups: dict[str, int], repeat: int
) -> None:
    means = []
    for _run in range(repeat):
        share = CpuShare(groups)
        wall, report, rows = playwright(project, PW_OVERHEAD, env, tests, workers)
        other = {row["title"]: row["other"] for row in rows}
        durations = {
            spec["title"]: spec["tests"][0]["results"][0]["duration"]
            for suite in report["suites"]
            for spec in suite["specs"]
        }
        total = [(durations[t] - other[t]) / 1000 for t in durations]
        means.append(statistics.mean(total))
        print(
            f"playwright-zhima, {len(total)} tests, {workers} workers: kit overhead per test "
            f"{statistics.mean(total) * 1000:.0f} ms average, "
            f"{sorted(total)[int(len(total) * 0.95) - 1] * 1000:.0f} ms p95 "
            f"(test duration with its fixtures, less the SMS and the wait for it to be stored); "
            f"suite {wall:.1f} s"
        )
        print(share.line(len(total)))
    print_mean("playwright-zhima", means)


def bench_playwright_wall(project: Path, env: dict, sim_root: str, tests: int, workers: int):
    requests.post(sim_root + "_sim/config", timeout=5, json={
        "auto_sms": True, "sms_delay_min": 2, "sms_delay_max": 6,
        "sms_lost_rate": 0, "sms_timeout_rate": 0,
    })  # fmt: skip
    wall, report, rows = playwright(project, PW_WALL, env, tests, workers)
    sums: dict[int, float] = {}
    for row in rows:
        sums[row["worker"]] = sums.get(row["worker"], 0.0) + row["wait"]
    longest = max(sums.values())
    print(
        f"playwright-zhima, {len(rows)} tests, {workers} workers, codes 2-6 s after the lease, "
        f"poller every 5 s: suite {wall:.1f} s (npx start to exit; the runner's own "
        f"{report['stats']['duration'] / 1000:.1f} s) ÷ longest worker's summed code waits "
        f"{longest:.1f} s = {wall / longest:.2f} (runner's: "
        f"{report['stats']['duration'] / 1000 / longest:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pw-workers", type=int, default=4)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each overhead suite (their mean is the figure)",
    )
    parser.add_argument(
        "--team",
        action="store_true",
        help="the console as README's 'Running for a team' deploys it: PostgreSQL (BENCH_PG), "
        "Redis (BENCH_REDIS) and gunicorn with --web-workers uvicorn workers",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (--team)")
    args = parser.parse_args()
    if args.team:
        for_a_team("bench-kits")
    print(machine())
    deployment = (
        f"PostgreSQL + Redis, gunicorn -w {args.web_workers}"
        if args.team
        else "embedded defaults: SQLite, ORM broker, disk cache, one uvicorn process"
    )
    print(f"console: {deployment}")
    db_url = fresh_database("bench_kits")
    setup_django(db_url, ZHIMA_API_LEASES_PER_MINUTE=0, DJANGO_SECRET_KEY="bench-only-" + "x" * 50)
    sim, sim_base = start_simulator(auto_sms="false")
    sim_root = sim_base.removesuffix("zsmcode/")
    url, token, procs = console(db_url, sim_base, args.web_workers if args.team else 0)
    timings = ensure_built()
    print("npm: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    env = {
        "ZHIMA_API_URL": url,
        "ZHIMA_API_TOKEN": token,
        "ZHIMA_ITEM": "1001",
        "ZHIMA_SIM_URL": sim_root,
        "ZHIMA_RUN_ID": f"bench-{os.getpid()}",
    }
    web, cluster = procs
    groups = {"console web": web.pid, "poller (qcluster)": cluster.pid, "simulator": sim.pid}
    project = KIT / ".bench"
    project.mkdir(exist_ok=True)
    (project / "playwright.config.ts").write_text(PW_CONFIG)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench_pytest(Path(tmp), env, args.tests, args.workers, groups, args.repeat)
        bench_playwright_overhead(project, env, args.tests, args.workers, groups, args.repeat)
        bench_playwright_wall(project, env, sim_root, args.tests, args.pw_workers)
        held = requests.get(sim_root + "_sim/leases", timeout=5).json()
        print(f"numbers still held upstream after the runs: {len(held)}")
    finally:
        stop(procs, sim)


if __name__ == "__main__":
    main()
