"""The real django-q2 cluster: the poller survives a killed cluster and finishes its work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django_q.brokers import get_broker
from django_q.tasks import async_task

from leases import services
from leases.models import Lease, LeaseState
from leases.tasks import ensure_schedules
from tests.conftest import test_database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start_cluster(sim, **overrides):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "ZHIMA_POLL_INTERVAL": "0.5",
        "ZHIMA_POLLER_RUN_SECONDS": "3",
        "ZHIMA_POLLER_STALE_SECONDS": "2",
        "Q_WORKERS": "2",
        "DATABASE_URL": test_database_url(),
        **overrides,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_leases_complete_after_the_cluster_is_killed_and_restarted(personas, items, sim, settings):
    settings.ZHIMA_POLL_INTERVAL = 0.5
    sim.config(
        sms_delay_min=9,
        sms_delay_max=10,
        auto_sms=True,
        sms_lost_rate=0,
        sms_timeout_rate=0,
        seed=11,
    )
    req = services.lease_numbers(personas["member"], items["1002"], key="r", quantity=4)
    ensure_schedules()
    async_task("leases.tasks.run_poller", 0)
    cluster = start_cluster(sim)
    try:
        assert wait_for(lambda: Lease.objects.filter(polls__gt=0).exists(), 30)
        os.killpg(cluster.pid, signal.SIGKILL)  # mid-work: leases still waiting
        cluster.wait(10)
        assert Lease.objects.filter(state=LeaseState.WAITING).exists(), list(
            Lease.objects.values_list("state", "end_reason", "polls")
        )
        polled = sim.stats()["requests"]["get_sms"]
        cluster = start_cluster(sim)
        # The new cluster starts its poller by itself, as soon as the dead loop's heartbeat
        # is stale (2 s here), not at the every-minute schedule.
        assert wait_for(lambda: sim.stats()["requests"]["get_sms"] > polled, 20)
        done = wait_for(
            lambda: not Lease.objects.filter(request=req).exclude(state="released").exists(), 60
        )
        assert done, list(Lease.objects.values_list("state", "polls"))
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)
    codes = {x["phoneNo"]: x for x in sim.leases()}
    assert codes == {}  # every number was released
    for lease in Lease.objects.filter(request=req):
        assert lease.code and lease.messages.get().code == lease.code


def test_a_worker_killed_mid_poll_leaves_every_call_it_made_on_record(personas, items, sim):
    from collections import Counter
    from datetime import timedelta

    from django.utils import timezone

    from accounts.audit import settle_abandoned_calls
    from accounts.models import ApiCall

    services.lease_numbers(personas["member"], items["1002"], key="k", quantity=4)
    # The lease queued a quota re-read; at this latency its verify would time out and drop the
    # session the polls share, and this test is about polls in flight.
    get_broker().purge_queue()
    sim.config(latency_ms=4000)  # every poll is still in flight when the worker dies
    ensure_schedules()
    async_task("leases.tasks.run_poller", 0)
    cluster = start_cluster(sim)
    try:
        assert wait_for(lambda: sim.stats()["requests"].get("get_sms", 0) >= 4, 30)
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)
    served = sim.stats()["requests"]
    stored = Counter(ApiCall.objects.values_list("endpoint", flat=True))
    assert all(stored[endpoint] >= n for endpoint, n in served.items()), (served, stored)
    pending = ApiCall.objects.filter(endpoint="get_sms", outcome="pending").count()
    assert pending >= 4
    assert settle_abandoned_calls(timezone.now() + timedelta(minutes=5)) >= pending
    assert not ApiCall.objects.filter(outcome="pending").exists()
