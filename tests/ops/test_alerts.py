"""Alerts: once when a condition starts, once more on recovery, to the account's managers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.audit import CallContext
from accounts.models import Alert
from accounts.quota import refresh_quota
from accounts.upstream.errors import UpstreamRefusal
from leases import services
from leases.models import Lease
from leases.poller import Poller
from leases.tasks import check_alerts


@pytest.fixture
def managed(personas, account):
    personas["owner"].email = "owner@example.com"
    personas["owner"].save()
    return account


def test_low_quota_alerts_once_and_recovers_once(managed, personas, items, sim):
    managed.low_quota_threshold = 999
    managed.save()
    ctx = CallContext.for_task("test")
    refresh_quota(managed, ctx)
    assert mail.outbox == []
    services.lease_numbers(personas["member"], items["1002"], key="q" * 32, quantity=10)
    refresh_quota(managed, ctx)  # 998 left
    refresh_quota(managed, ctx)
    assert [m.subject for m in mail.outbox] == [
        "[Zhima Console] Sandbox: quota below its threshold"
    ]
    assert mail.outbox[0].to == ["owner@example.com"] and "998 left" in mail.outbox[0].body
    sim.state.accounts["demo"].balance = Decimal(1000)
    refresh_quota(managed, ctx)
    refresh_quota(managed, ctx)
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("[Zhima Console] Sandbox: recovered")


def test_a_key_that_no_longer_verifies_alerts_once(managed, sim):
    sim.state.accounts["demo"].pkey = "rotated-upstream"
    for _ in range(2):
        with pytest.raises(UpstreamRefusal):
            refresh_quota(managed, CallContext.for_task("test"))
    assert [m.subject for m in mail.outbox] == [
        "[Zhima Console] Sandbox: the key can no longer be verified"
    ]
    assert "demo-pkey" not in mail.outbox[0].body


def test_upstream_failure_alerts_under_the_fault_knobs(managed, personas, items, sim, settings):
    settings.ALERT_UPSTREAM_MINUTES = 0.05  # 3 seconds
    settings.ZHIMA_POLL_INTERVAL = 0.2
    req = services.lease_numbers(personas["member"], items["1002"], key="u" * 32)
    Lease.objects.filter(request=req).update(next_poll_at=req.created_at)
    Alert.objects.all().delete()
    import time

    time.sleep(3.1)  # the lease's successful calls leave the window
    sim.config(error_rate=1.0)
    Poller(run_seconds=0.6).run()
    check_alerts()
    check_alerts()
    assert [m.subject for m in mail.outbox] == ["[Zhima Console] Sandbox: the upstream is failing"]
    sim.config(error_rate=0.0)
    Poller(run_seconds=0.6).run()
    check_alerts()
    assert mail.outbox[-1].subject == "[Zhima Console] Sandbox: recovered: the upstream is failing"
    assert len(mail.outbox) == 2


def test_a_poller_behind_its_cadence_alerts(managed, personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1001"], key="p" * 32)
    Lease.objects.filter(request=req).update(next_poll_at=timezone.now() - timedelta(minutes=2))
    check_alerts()
    check_alerts()
    assert [m.subject for m in mail.outbox] == [
        "[Zhima Console] Sandbox: the poller is behind its cadence"
    ]
    Lease.objects.filter(request=req).update(next_poll_at=timezone.now() + timedelta(seconds=5))
    check_alerts()
    assert "recovered" in mail.outbox[-1].subject
