"""The metrics the shipped alert rules (deploy/prometheus/alerts.yml) are written on: each
moves with what it measures, read through /metrics as Prometheus reads it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import CallRow, abandoned_after, reserve_calls
from accounts.models import DeveloperAccount
from leases import services
from leases.models import Lease

from .test_health import _samples


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = "alert-rules-token"

    def read():
        client.defaults["HTTP_AUTHORIZATION"] = "Bearer alert-rules-token"
        return _samples(client)

    return read


def test_the_oldest_held_lease_and_the_forced_release(scrape, personas, items, settings):
    assert scrape()[("zhima_lease_oldest_held_seconds", ())] == 0
    req = services.lease_numbers(personas["member"], items["1001"], key="old" * 8)
    Lease.objects.filter(request=req).update(leased_at=timezone.now() - timedelta(minutes=27))
    after = scrape()
    assert 27 * 60 <= after[("zhima_lease_oldest_held_seconds", ())] < 28 * 60
    assert after[("zhima_upstream_force_release_seconds", ())] == 1800
    settings.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES = 20
    assert scrape()[("zhima_upstream_force_release_seconds", ())] == 1200


def test_the_quota_beside_its_threshold(scrape, account):
    DeveloperAccount.objects.filter(pk=account.pk).update(quota=12, low_quota_threshold=40)
    samples = scrape()
    assert samples[("zhima_account_quota", (("account", "Sandbox"),))] == 12
    assert samples[("zhima_account_quota_threshold", (("account", "Sandbox"),))] == 40


def test_the_oldest_pending_audit_row_beside_the_settle_age(scrape, account):
    assert scrape()[("zhima_audit_pending_oldest_seconds", ())] == 0
    reserve_calls(
        [
            CallRow(
                created_at=timezone.now() - timedelta(seconds=400),
                account_id=account.pk,
                actor="task:poller",
                user_id=None,
                endpoint="get_sms",
                params={},
                http_status=None,
                latency_ms=0,
                outcome="",
                msg="",
                raw_body="",
                lease_id=None,
                lease_request_id=None,
                phone="",
            )
        ]
    )
    samples = scrape()
    assert 400 <= samples[("zhima_audit_pending_oldest_seconds", ())] < 460
    assert samples[("zhima_audit_settle_after_seconds", ())] == abandoned_after()
