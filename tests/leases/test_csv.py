"""The CSV exports, for people: local times in ISO 8601 with their offset, parameters as JSON."""

import csv
import io
import json
import warnings
from datetime import datetime

import pytest
from django.test import AsyncClient
from django.urls import reverse

from leases import services
from leases.models import Lease
from tests.conftest import run_async
from zhima_site.paging import CsvResponse

pytestmark = pytest.mark.backend


@pytest.fixture
def lease(personas, items):
    req = services.lease_numbers(personas["member"], items["1003"], key="c" * 32)
    return Lease.objects.get(request=req)


def rows(client, name):
    body = b"".join(client.get(reverse(name)).streaming_content).decode().lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Shanghai", "+08:00"), ("UTC", "+00:00")])
def test_times_are_local_iso_8601(client, personas, lease, settings, zone, offset):
    settings.TIME_ZONE = zone
    client.force_login(personas["viewer"])
    (row,) = rows(client, "leases-history-csv")
    assert row["leased_at"].endswith(offset) and "T" in row["leased_at"]
    assert datetime.fromisoformat(row["leased_at"]) == lease.leased_at.replace(microsecond=0)
    audit = rows(client, "accounts-audit-csv")
    assert all(r["time"].endswith(offset) for r in audit)


def test_audit_parameters_are_json(client, personas, lease):
    client.force_login(personas["viewer"])
    (call,) = [r for r in rows(client, "accounts-audit-csv") if r["endpoint"] == "get_numbers"]
    params = json.loads(call["params"])
    assert params["itemId"] == "1003"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["leases-history-csv", "accounts-audit-csv"])
def test_an_asgi_server_streams_the_export_in_batches(personas, items, name, monkeypatch):
    """Under ASGI (uvicorn) the body is pulled in batches, not read whole into memory first
    (Django does that, with a warning, for a synchronous iterator)."""
    for n in range(3):
        services.lease_numbers(personas["member"], items["1003"], key=f"asgi-{n}".ljust(32, "x"))
    monkeypatch.setattr(CsvResponse, "BATCH", 2)

    async def body():
        client = AsyncClient()
        await client.aforce_login(personas["viewer"])
        response = await client.get(reverse(name))
        return [part async for part in response]

    with warnings.catch_warnings():
        warnings.filterwarnings("error", "StreamingHttpResponse must consume")
        parts = run_async(body)
    rows = list(csv.DictReader(io.StringIO(b"".join(parts).decode().lstrip("\ufeff"))))
    assert len(rows) >= 3 and len(parts) == len(rows) + 2  # BOM, header, a part per row
