"""Schemathesis, the OpenAPI fuzzer, against a live console (uvicorn in a subprocess, as
``.ci/start`` runs it) and a live simulator: every check (``--checks all``), a bounded number
of examples, a fixed seed. Any finding fails the test; its report names the request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import test_database_url

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SEED = 20260501
EXAMPLES = 20  # per operation and phase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def console(tmp_path):
    """The console under uvicorn on the test database (the test is transactional, so the
    rows it makes are committed and seen)."""
    port = free_port()
    log = tmp_path / "console.log"  # a file: an unread pipe would fill and stall the console
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": test_database_url(),
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "zhima_site.asgi:application",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
             "--timeout-graceful-shutdown", "3"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the console did not start: " + log.read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_schemathesis_finds_nothing(personas, items, sim, console, tmp_path):
    from accounts import tokens

    _row, raw = tokens.issue(personas["member"], "fuzz")
    # A lease of each kind the operations act on, so that fuzzing reaches past the 404s.
    for item in ("1001", "1004", "1005"):
        r = requests.post(
            console + "/api/v1/leases",
            json={"item": item, "tag": "fuzz"},
            headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": f"seed-{item}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG),
         "run", console + "/api/v1/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
         "--header", f"Authorization: Bearer {raw}", "--request-timeout", "10",
         "--generation-database", "none", "--workers", "1", "--no-color",
         "--report", "junit", "--report-dir", str(tmp_path / "report")],
        cwd=tmp_path,  # its cache stays out of the checkout
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    print(run.stdout[-4000:])
    print(f"schemathesis ran in {seconds:.0f} s")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
