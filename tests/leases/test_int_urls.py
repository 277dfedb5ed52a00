"""Object ids in URLs are whole numbers (``<int:pk>``); any other id, or one too large for the
database, is a 404 — never a 500."""

import pytest
from django.urls import NoReverseMatch, reverse

from leases import services
from leases.models import Lease

BY_ID = [
    ("leases-detail", "get"),
    ("leases-release", "post"),
    ("leases-blacklist", "post"),
    ("leases-send", "post"),
    ("leases-send-status", "post"),
    ("leases-keep-waiting", "post"),
    ("leases-release-all", "post"),
    ("leases-item-refresh", "post"),
    ("accounts-audit-raw", "get"),
    ("accounts-token-revoke", "post"),
]
HUGE = [2**31, 2**63, 10**30]


@pytest.mark.parametrize("name", [n for n, _ in BY_ID])
def test_the_url_takes_only_whole_numbers(name):
    assert reverse(name, args=[7]).count("7") == 1
    for bad in ("abc", "-1", "1.5", "١٢"):
        with pytest.raises(NoReverseMatch):
            reverse(name, args=[bad])


def test_huge_and_foreign_ids_are_404(client, personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1002"], key="u" * 32)
    lease = Lease.objects.get(request=req)
    client.force_login(personas["owner"])
    assert client.get(reverse("leases-detail", args=[lease.pk])).status_code == 200
    for name, method in BY_ID:
        path = reverse(name, args=[1]).replace("/1/", "/{}/")
        for pk in HUGE:
            page = getattr(client, method)(path.format(pk))
            assert page.status_code == 404, (name, pk, page.status_code)
        assert getattr(client, method)(path.format("x1")).status_code == 404
