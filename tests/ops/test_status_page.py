"""The operator page: heartbeats, poll lag, errors per endpoint, last alerts."""

import pytest
from django.utils import timezone

from accounts import alerts
from accounts.upstream.errors import TransportError
from leases import services
from leases.models import PollerHeartbeat


def test_managers_see_heartbeats_errors_and_alerts(client, personas, items, sim, account):
    services.lease_numbers(personas["member"], items["1001"], key="o" * 32)
    sim.config(error_rate=1.0)
    from accounts.registry import client_for

    with pytest.raises(TransportError):  # the failure is what this test wants recorded
        client_for(account).release_all()
    PollerHeartbeat.objects.create(slot=0, owner="x", beat_at=timezone.now(), polls=42)
    alerts.set_condition(
        account,
        "upstream_failing",
        True,
        {"minutes": "5", "endpoint": "get_sms", "outcome": "transport", "msg": "HTTP 500"},
    )
    client.force_login(personas["owner"])
    page = client.get("/operations/").content.decode()
    assert "42" in page and "release all" in page and "100.0 %" in page
    assert "the upstream is failing" in page
    assert "No successful call for 5 minutes; the last failure: get_sms transport HTTP 500" in page
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    page = client.get("/operations/").content.decode()
    assert "上游调用失败" in page and "5 分钟内没有成功的调用" in page
    assert 'href="/operations/"' in page


def test_it_is_for_managers_only(client, personas):
    assert client.get("/operations/").status_code == 302
    client.force_login(personas["viewer"])
    assert client.get("/operations/").status_code == 403
    assert 'href="/operations/"' not in client.get("/").content.decode()
