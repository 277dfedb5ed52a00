"""Deliveries through a real django-q2 cluster (a ``qcluster`` subprocess on the test
database): the task the commit hook enqueues is posted by a worker, and a due retry too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import Schedule

from leases import services
from leases.models import Lease
from leases.tasks import ensure_schedules
from leases.webhooks import delivery as webhooks
from leases.webhooks.models import WebhookDelivery
from tests.conftest import test_database_url
from tests.leases.test_cluster import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_cluster_worker_delivers_and_retries(personas, items, receiver, hook):
    ensure_schedules()
    assert (
        Schedule.objects.get(name="zhima-webhooks").func == "leases.webhooks.tasks.retry_webhooks"
    )
    receiver.statuses = [500]
    req = services.lease_numbers(personas["member"], items["1003"], key="wh-cluster")
    lease = Lease.objects.get(request=req)
    services.release(personas["member"], [lease])  # committed: the hook enqueues at once
    env = {**os.environ, "DJANGO_DEBUG": "true", "DATABASE_URL": test_database_url()}
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(receiver.requests) == 1, 30), "the worker posts the event"
        d = WebhookDelivery.objects.get()
        assert wait_for(lambda: d.attempt_log.exists(), 5)
        d.refresh_from_db()
        assert d.state == "pending" and d.next_attempt_at > timezone.now()
        WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert webhooks.retry_due() == [d.pk]
        assert wait_for(lambda: len(receiver.requests) == 2, 30), "the worker retries it"
        assert wait_for(lambda: WebhookDelivery.objects.get().state == "delivered", 5)
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)
    first, second = receiver.requests
    assert first["status"] == 500 and second["status"] == 200 and second["verified"]
    assert first["headers"]["X-Zhima-Event-Id"] == second["headers"]["X-Zhima-Event-Id"]
    assert second["json"]["data"]["lease"]["id"] == lease.pk
