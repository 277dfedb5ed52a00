"""A web process killed mid-lease: its request is settled as ambiguous and the number freed."""

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.db.models import F
from django.urls import reverse

from accounts.models import ApiCall
from leases import reconcile, services
from leases.models import Lease, LeaseRequest
from leases.timing import lease_chain, reconcile_hold
from tests.conftest import test_database_url
from tests.leases.test_cluster import wait_for

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef" * 2  # as the lease form makes them

# What the lease form's view runs, in a process of its own (as a gunicorn worker would).
LEASE = f"""
from django.contrib.auth import get_user_model
from leases import services
from leases.models import Item
member = get_user_model().objects.get(username="member")
item = Item.objects.get(item_id="1001", account__name="Sandbox")
services.lease_numbers(member, item, key="{KEY}")
"""


def age(req, by: timedelta):
    LeaseRequest.objects.filter(pk=req.pk).update(created_at=F("created_at") - by)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_web_process_killed_mid_lease_leaves_a_number_the_reconciliation_frees(
    personas, items, sim, settings
):
    settings.ZHIMA_LEASE_READ_TIMEOUT = 60  # as in the killed process
    # The upstream leases the number at once and answers 20 s later: the process is mid-call.
    sim.config(timeout_rate=1.0, timeout_seconds=20, fault_endpoints="get_numbers")
    env = {**os.environ, "DATABASE_URL": test_database_url(), "ZHIMA_LEASE_READ_TIMEOUT": "60"}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", LEASE],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        leased = wait_for(lambda: len(sim.leases()) == 1, 30)
        assert leased, proc.stderr.read().decode() if proc.poll() is not None else "no lease"
        os.killpg(proc.pid, signal.SIGKILL)  # mid-call: the answer is 20 s away
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    req = LeaseRequest.objects.get(key=KEY)
    assert req.outcome == LeaseRequest.Outcome.PENDING and not Lease.objects.exists()
    assert ApiCall.objects.get(endpoint="get_numbers", lease_request_id=req.pk).outcome == "pending"
    # It could still be in flight: the reconciliation leaves it alone.
    assert reconcile.reconcile_accounts() == {}
    assert len(sim.leases()) == 1
    # Once it is older than the longest lease request, it is an orphan: ambiguous, reconciled.
    age(req, reconcile_hold() + timedelta(seconds=1))
    assert reconcile.reconcile_accounts() == {"Sandbox": "released"}
    assert sim.leases() == []
    req.refresh_from_db()
    assert req.outcome == LeaseRequest.Outcome.AMBIGUOUS
    assert req.reserved == Decimal("0.1")  # the number may have been charged: still counted
    assert reconcile.reconcile_accounts() == {"Sandbox": "clear"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_gunicorn_worker_timed_out_mid_lease_leaves_nothing_behind(
    personas, items, sim, settings
):
    """The failure gunicorn's default timeout caused: a worker killed by its server while the
    lease call waits (here a 3 s timeout against an answer 20 s late)."""
    from django.test import Client

    settings.ZHIMA_LEASE_READ_TIMEOUT = 60
    sim.config(timeout_rate=1.0, timeout_seconds=20, fault_endpoints="get_numbers")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "ZHIMA_LEASE_READ_TIMEOUT": "60"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    web = subprocess.Popen(
        [str(gunicorn), "zhima_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "3"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        up = wait_for(lambda: _answers(root + "/healthz"), 30)
        assert up, "gunicorn did not start"
        django_client = Client()
        django_client.force_login(personas["member"])
        browser = requests.Session()
        browser.cookies.set("sessionid", django_client.cookies["sessionid"].value)
        form = browser.get(root + reverse("leases-new"), timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        data = {"item": items["1001"].pk, "quantity": 1, "key": KEY, "csrfmiddlewaretoken": token}
        try:  # the worker is killed mid-call: no answer, or gunicorn's own 500
            answer = browser.post(root + reverse("leases-new"), data=data, timeout=30)
            assert answer.status_code >= 500 and answer.elapsed.total_seconds() < 15, answer
        except requests.ConnectionError:
            pass
    finally:
        os.killpg(web.pid, signal.SIGKILL)
        web.wait(10)
    assert len(sim.leases()) == 1 and not Lease.objects.exists()
    req = LeaseRequest.objects.get(key=KEY)
    assert req.outcome == LeaseRequest.Outcome.PENDING
    assert reconcile.reconcile_accounts() == {}  # it might still be in flight
    age(req, reconcile_hold() + timedelta(seconds=1))
    assert reconcile.reconcile_accounts() == {"Sandbox": "released"}
    assert sim.leases() == []


def _answers(url) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_request_that_died_before_its_lease_call_is_a_plain_failure(personas, items, sim):
    req = LeaseRequest.objects.create(
        key="d" * 32,
        account=items["1001"].account,
        item=items["1001"],
        user=personas["member"],
        reserved=Decimal("0.1"),
    )
    assert services.settle_orphaned_requests() == {"ambiguous": 0, "failed": 0}  # in flight
    age(req, reconcile_hold() + timedelta(seconds=1))
    assert services.settle_orphaned_requests() == {"ambiguous": 0, "failed": 1}
    req.refresh_from_db()
    assert req.outcome == LeaseRequest.Outcome.FAILED and req.reserved == 0
    assert reconcile.reconcile_accounts() == {}  # nothing to free
    assert "release_all" not in sim.stats()["requests"]


def gunicorn_config(**env) -> dict:
    """What gunicorn resolves from README's command (``--print-config``), under ``env``."""
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    (command,) = [line for line in readme.splitlines() if "gunicorn -c " in line]
    conf = re.search(r"-c (\S+)", command).group(1)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    out = subprocess.run(
        [str(gunicorn), "--print-config", "-c", conf, "zhima_site.asgi:application"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return dict(re.findall(r"^(\w+)\s+= (.*)$", out, re.MULTILINE))


@pytest.mark.parametrize("lease_read", [25, 60])
def test_the_gunicorn_timeout_outlasts_the_longest_lease_request(settings, lease_read):
    """README "Running for a team": gunicorn's worker timeout (and its graceful timeout, for
    restarts) is longer than a lease request can take with the production timeouts, and
    shorter than the age at which the console takes a pending request for an orphan — and
    follows a changed upstream timeout by itself."""
    env = {"ZHIMA_CONNECT_TIMEOUT": "3.05", "ZHIMA_READ_TIMEOUT": "10"}
    conf = gunicorn_config(**env, ZHIMA_LEASE_READ_TIMEOUT=str(lease_read))
    settings.ZHIMA_CONNECT_TIMEOUT = 3.05
    settings.ZHIMA_READ_TIMEOUT = 10
    settings.ZHIMA_LEASE_READ_TIMEOUT = lease_read
    chain, hold = lease_chain().total_seconds(), reconcile_hold().total_seconds()
    assert chain < int(conf["timeout"]) < hold, (chain, conf["timeout"], hold)
    assert chain < int(conf["graceful_timeout"]) < hold, (chain, conf["graceful_timeout"], hold)
    assert conf["worker_class"] == "zhima_site.gunicorn_conf.Worker"
    if lease_read == 25:
        assert conf["timeout"] == "90"
