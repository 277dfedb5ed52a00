"""A live console for the kits' tests, as a QA suite meets it: the web under uvicorn (ASGI) and
the poller in a django-q2 cluster, both subprocesses on the test database, the upstream being
the test's simulator. The tests that use it are transactional, so the subprocesses see their
rows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import Sim, test_database_url

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": test_database_url(),
        "ZHIMA_POLL_INTERVAL": "0.5",
        **overrides,
    }


def start_web(port: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "zhima_site.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def start_cluster(**env: str) -> subprocess.Popen:
    """``manage.py qcluster`` with the poller queued, as ``bootstrap``'s schedule would."""
    from django_q.tasks import async_task

    from leases.tasks import ensure_schedules

    ensure_schedules()
    async_task("leases.tasks.run_poller", 0)
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT, env=_env(Q_WORKERS="2", **env), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError("the console did not start: " + err)
        time.sleep(0.2)


@dataclass
class Console:
    url: str  # the console's base URL (ZHIMA_API_URL)
    sim: Sim
    personas: dict

    def token(self, name: str = "kit", persona: str = "member", **kw) -> str:
        from accounts import tokens

        _row, raw = tokens.issue(self.personas[persona], name, **kw)
        return raw

    def ledger(self) -> list[dict]:
        """``GET /_sim/ledger``: every number ever leased upstream and how it ended."""
        return requests.get(self.sim.root + "_sim/ledger", timeout=5).json()

    def wait_all_released(self, seconds: float = 15) -> list:
        """The simulator's ledger of held numbers, once empty (or as it is after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while (held := self.sim.leases()) and time.monotonic() < deadline:
            time.sleep(0.3)
        return held


@pytest.fixture
def live_web(personas, items, sim):
    """The console's web alone (no poller), live on a loopback port, with the sandbox items."""
    port = free_port()
    web = start_web(port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, web)
        yield Console(url, sim, personas)
    finally:
        stop(web)


@pytest.fixture
def live_console(live_web):
    """The console's web and poller."""
    cluster = start_cluster()
    try:
        yield live_web
    finally:
        stop(cluster, signal.SIGKILL)  # a cluster's graceful stop waits out its poller
