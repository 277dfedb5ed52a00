"""The example suite (``tests/e2e/example``) end to end, as a QA engineer runs it: the
plugin pip-installed, a token of a member, a live console (uvicorn, ASGI, in a subprocess)
on the test database, the poller, the simulator, and real Chromium. The run must pass, and
the number must be tagged, audited under the member and released."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import test_database_url
from tests.kit.pipkit import run_pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).resolve().parent / "example"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def console():
    """The console under uvicorn, on the test database (its rows are committed: the test
    is transactional)."""
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "true", "DATABASE_URL": test_database_url()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "zhima_site.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
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
                raise RuntimeError("the console did not start: " + proc.stderr.read().decode())
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture
def poller(settings):
    from leases.poller import Poller

    settings.ZHIMA_POLL_INTERVAL = 0.5
    stop = threading.Event()
    loop = Poller(run_seconds=180, stop=stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield loop
    stop.set()
    thread.join(30)


def test_the_example_signs_up_with_a_code_from_the_console(
    personas, items, sim, console, poller, kit_site
):
    from accounts import tokens
    from accounts.models import ApiCall
    from leases.models import Lease, LeaseState

    _row, raw = tokens.issue(personas["member"], "e2e-suite")
    run_id = f"e2e-{os.getpid()}"
    started = time.monotonic()
    r = run_pytest(
        kit_site,
        EXAMPLE,
        {
            "ZHIMA_API_URL": console,
            "ZHIMA_API_TOKEN": raw,
            "ZHIMA_ITEM": "1001",
            "ZHIMA_SIM_URL": sim.root,
            "ZHIMA_RUN_ID": run_id,
        },
    )
    seconds = time.monotonic() - started
    assert "1 passed" in r.stdout, r.stdout + r.stderr
    print(f"the example suite ran in {seconds:.1f} s")

    lease = Lease.objects.get(tag__startswith=run_id)
    assert lease.tag == f"{run_id} test_signup.py::test_sign_up_with_an_sms_code[chromium]"
    assert lease.user == personas["member"] and lease.token.name == "e2e-suite"
    assert lease.state in (LeaseState.RELEASED, LeaseState.RELEASING)
    msg = lease.messages.get()
    assert "您的验证码是" in msg.text and msg.code and msg.code in msg.text
    # The lease call and the release are on record under the member and the token's name.
    lease_call = ApiCall.objects.get(lease_request_id=lease.request_id, endpoint="get_numbers")
    assert lease_call.actor == "member · e2e-suite"
    releases = ApiCall.objects.filter(lease_id=lease.pk, endpoint="release")
    assert releases.exists()
    deadline = time.monotonic() + 10
    while sim.leases() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert sim.leases() == [], "every number is released upstream"


FAILING = """
import pytest


@pytest.mark.zhima(item="1003")
def test_the_app_breaks(zhima_number):
    assert zhima_number.phone
    raise AssertionError("the sign-up page is broken")
"""


def test_a_failing_test_releases_its_number_on_the_real_api(
    personas, items, sim, console, kit_site, tmp_path
):
    from accounts import tokens
    from leases.models import Lease, LeaseState

    _row, raw = tokens.issue(personas["member"], "e2e-failing")
    (tmp_path / "test_breaks.py").write_text(FAILING)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run_id = f"e2e-fail-{os.getpid()}"
    env = {"ZHIMA_API_URL": console, "ZHIMA_API_TOKEN": raw, "ZHIMA_RUN_ID": run_id}
    r = run_pytest(kit_site, tmp_path, {**env, "ZHIMA_ITEM": "1001"})
    assert "1 failed" in r.stdout and "the sign-up page is broken" in r.stdout, r.stdout
    lease = Lease.objects.get(tag__startswith=run_id)
    assert lease.item.item_id == "1003" and lease.tag.endswith(
        "test_breaks.py::test_the_app_breaks"
    )
    assert lease.state == LeaseState.RELEASED and "member" in lease.end_text
    assert sim.leases() == []
