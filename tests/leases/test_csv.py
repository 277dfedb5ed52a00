"""The CSV exports, for people: local times in ISO 8601 with their offset, parameters as JSON."""

import csv
import io
import json
from datetime import datetime

import pytest
from django.urls import reverse

from leases import services
from leases.models import Lease


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
