"""After "Keep waiting for another SMS" the page is about the wait: the code it had is shown as
history (no primary Copy), and the waiting note lives in the live part, gone once the next
code arrives."""

from __future__ import annotations

import re

import pytest

from leases import services
from leases.models import Lease, LeaseState
from leases.poller import Poller


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.3
    settings.ZHIMA_READ_TIMEOUT = 0.5
    return settings


def live_part(client, pk) -> str:
    """What a live update swaps in: the lease section alone."""
    r = client.get(f"/leases/{pk}/", headers={"HX-Request": "true"})
    assert r.status_code == 200
    return r.content.decode()


def primary_copy_of(html: str, code: str) -> bool:
    return bool(re.search(rf'<button[^>]*class="primary"[^>]*data-copy="{code}"', html))


def test_keep_waiting_makes_the_wait_the_primary_thing(client, personas, items, sim, fast):
    req = services.lease_numbers(personas["member"], items["1005"], key="k" * 32)
    one = Lease.objects.get(request=req)
    sim.deliver(one.phone, "第一条 验证码 1111")
    Poller(run_seconds=0.9).run()
    client.force_login(personas["member"])
    assert primary_copy_of(live_part(client, one.pk), "1111")

    page = client.post(f"/leases/{one.pk}/keep-waiting/", follow=True).content.decode()
    one.refresh_from_db()
    assert one.state == LeaseState.WAITING
    # The note is part of the live section, not a message above it that outlives the wait.
    assert page.count("Waiting for another SMS.") == 1
    html = live_part(client, one.pk)
    assert "Waiting for another SMS." in html
    assert not primary_copy_of(html, "1111") and 'id="code"' not in html
    assert re.search(r'Previous code: <span class="mono">1111</span>', html)
    active = client.get("/active/").content.decode()
    assert 'data-copy="1111"' not in active and "waiting…" in active

    sim.deliver(one.phone, "第二条 验证码 2222")
    Poller(run_seconds=0.9).run()
    html = live_part(client, one.pk)
    assert primary_copy_of(html, "2222")
    assert "Waiting for another SMS." not in html and "Previous code" not in html
