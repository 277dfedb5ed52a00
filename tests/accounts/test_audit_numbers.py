"""A call about several numbers (a batch lease, a batch release) keeps them all in its audit row,
and filtering the audit log by any one of them finds it."""

from __future__ import annotations

import pytest

from accounts.models import ApiCall
from leases import services
from leases.models import Lease


@pytest.mark.backend  # the match runs in the database (a regex on PostgreSQL and SQLite)
def test_a_batch_call_is_found_by_each_of_its_numbers(client, personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1002"], key="b" * 32, quantity=3)
    leases = list(Lease.objects.filter(request=req).order_by("pk"))
    phones = [x.phone for x in leases]
    (call,) = ApiCall.objects.filter(endpoint="get_numbers")
    assert call.phone.split(",") == phones  # whole, the third number too
    services.release(personas["member"], leases)
    client.force_login(personas["member"])
    for phone in phones:
        rows = list(client.get("/audit/", {"phone": phone}).context["rows"])
        endpoints = sorted(c.endpoint for c in rows)
        assert "get_numbers" in endpoints and "release" in endpoints, (phone, endpoints)
    # A number that only starts like one of them matches nothing of the batch.
    assert not list(client.get("/audit/", {"phone": phones[0][:-1]}).context["rows"])
    page = client.get("/audit/", {"phone": phones[2]}).content.decode()
    assert ", ".join(phones) in page  # shown as a list that wraps
