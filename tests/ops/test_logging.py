"""JSON log lines: they parse, carry request and lease ids, and never the pkey."""

import io
import json
import logging

import pytest

from accounts.logging import ContextFilter, JsonFormatter, RedactSecretsFilter
from leases import services
from leases.models import Lease
from leases.poller import Poller


@pytest.fixture
def json_lines():
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buf.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old)


def test_web_lines_carry_the_request_id(client, personas, json_lines):
    client.force_login(personas["member"])
    r = client.get("/leases/999999/", HTTP_X_REQUEST_ID="trace-abc-123")
    assert r.status_code == 404 and r["X-Request-ID"] == "trace-abc-123"
    lines = [x for x in json_lines() if x["logger"] == "django.request"]
    assert lines and lines[-1]["request_id"] == "trace-abc-123"
    r = client.get("/leases/999999/", HTTP_X_REQUEST_ID="bad id!")
    assert len(r["X-Request-ID"]) == 32  # an unsafe incoming id is replaced


def test_poller_lines_carry_the_lease_id_and_never_the_pkey(
    personas, items, sim, settings, json_lines
):
    settings.ZHIMA_POLL_INTERVAL = 0.2
    req = services.lease_numbers(personas["member"], items["1001"], key="j" * 32)
    lease = Lease.objects.get(request=req)
    Lease.objects.filter(pk=lease.pk).update(next_poll_at=lease.leased_at)
    sim.deliver(lease.phone, "验证码 8080")
    Poller(run_seconds=1.5).run()
    logging.getLogger("urllib3.connectionpool").warning(
        "GET /zsmcode/pkey/verification.php?account=demo&pkey=demo-pkey"
    )
    lines = json_lines()
    mine = [x for x in lines if x["lease_id"] == lease.pk]
    assert any("8080" in x["message"] for x in mine)
    assert any(x["message"].startswith("released (code)") for x in mine)
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
    assert "demo-pkey" not in text and "pkey=********" in text
