"""Health checks and metrics for whoever runs the console."""

import pytest
from django.db import OperationalError, connection
from prometheus_client.parser import text_string_to_metric_families

from leases import services
from leases.poller import Poller


def test_healthz_answers_without_login(client, db):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.backend
def test_readyz_names_the_missing_heartbeat_then_passes(client, personas, items, sim, settings):
    r = client.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert not checks["poller"]["ok"] and "no poller" in checks["poller"]["detail"]
    Poller(run_seconds=0.2).run()  # gives its slot back at the end: beat again to stay alive
    from django.utils import timezone

    from leases.models import PollerHeartbeat

    PollerHeartbeat.objects.update(beat_at=timezone.now())
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_readyz_names_a_failed_database(client, db, monkeypatch):
    def broken(*a, **kw):
        raise OperationalError("could not connect to server")

    client.get("/healthz")  # the session and middleware tables are touched before the fault
    with monkeypatch.context() as m:
        m.setattr(connection, "cursor", broken)
        r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"]["ok"] is False
    assert "could not connect" in r.json()["checks"]["database"]["detail"]


@pytest.mark.backend
def test_readyz_names_a_failed_broker(client, db, monkeypatch):
    class DeadBroker:
        def ping(self):
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6390")

    monkeypatch.setattr("django_q.brokers.get_broker", lambda *a, **kw: DeadBroker())
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["broker"]["ok"] is False


def test_health_pages_reveal_no_secret(client, account):
    body = client.get("/readyz").content.decode() + client.get("/healthz").content.decode()
    assert "demo-pkey" not in body and account.pkey_encrypted not in body


def test_metrics_refuse_without_token_or_allowed_address(client, db, settings):
    settings.METRICS_ALLOW_IPS = []
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def _samples(client):
    text = client.get("/metrics").content.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_move_as_calls_are_made(client, personas, items, sim, settings):
    settings.METRICS_ALLOW_IPS = ["127.0.0.1"]  # explicitly: the default allows no address
    before = _samples(client)
    req = services.lease_numbers(personas["member"], items["1002"], key="m" * 32, quantity=3)
    from leases.models import Lease

    Lease.objects.filter(request=req).update(next_poll_at=req.created_at)
    settings.ZHIMA_POLL_INTERVAL = 0.2
    lease = Lease.objects.filter(request=req).first()
    sim.deliver(lease.phone, "验证码 4321")
    Poller(run_seconds=1.6).run()
    after = _samples(client)
    key = ("zhima_upstream_calls_total", (("endpoint", "get_numbers"), ("outcome", "ok")))
    assert after[key] == before.get(key, 0) + 1
    assert after[("zhima_polls_total", ())] >= 3
    assert after[("zhima_codes_received_total", ())] >= 1
    assert after[("zhima_releases_total", (("kind", "code"),))] == 1
    assert after[("zhima_upstream_latency_seconds_count", (("endpoint", "get_sms"),))] >= 3
    assert ("zhima_leases_held", (("state", "waiting"),)) in after
    assert after[("zhima_poll_lateness_seconds_count", ())] >= 3


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_endpoints_reject_posts(client, db, path):
    assert client.post(path).status_code in (403, 405)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_on_the_processs_own_address(client, db, path):
    """An orchestrator probes with ``Host: <pod address>``, not in ALLOWED_HOSTS; the probes
    answer, every other page still refuses that host."""
    r = client.get(path, HTTP_HOST="10.0.3.7:8000")
    assert r.status_code in (200, 503) and r.json()["status"] in ("ok", "ready", "not ready")
    assert "no-cache" in r["Cache-Control"]
    assert client.get("/login/", HTTP_HOST="10.0.3.7:8000").status_code == 400
    assert client.post(path, HTTP_HOST="10.0.3.7:8000").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_probes_answer_on_the_processs_own_address_under_asgi():
    from django.test import AsyncClient

    from tests.conftest import run_async

    async def probe():
        c, host = AsyncClient(), {"host": "10.0.3.7:8000"}
        return [await c.get(p, headers=host) for p in ("/healthz", "/readyz", "/login/")]

    health, ready, page = run_async(probe)
    assert health.status_code == 200 and ready.status_code in (200, 503)
    assert page.status_code == 400
