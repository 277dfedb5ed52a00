"""Money under concurrent clicks: budgets hold and sends are claimed before they are made
(threads against the live simulator, SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest

from accounts.clients import forget_clients
from accounts.models import Membership
from leases import services
from leases.errors import AmbiguousLease
from leases.models import Lease, LeaseRequest
from tests.hardening.test_races import hammer


def budget(member, daily):
    Membership.objects.filter(user=member).update(daily_budget=Decimal(daily))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(2))
def test_six_concurrent_leases_stay_within_a_budget_for_one_and_a_half(
    personas, items, sim, settings, round_
):
    settings.ZHIMA_READ_TIMEOUT = settings.ZHIMA_LEASE_READ_TIMEOUT = 15
    forget_clients()
    member = personas["member"]
    budget(member, "0.15")  # item 1001 costs 0.1 a number
    services.lease_numbers(personas["owner"], items["1001"], key="warm" * 8)  # session up
    sim.config(latency_ms=300)  # every lease call in flight while the others decide
    errors = hammer(
        [
            lambda n=n: services.lease_numbers(member, items["1001"], key=f"{round_}b{n}" * 8)
            for n in range(6)
        ]
    )
    leased = Lease.objects.filter(user=member).count()
    calls = sim.stats()["requests"]["get_numbers"] - 1
    assert (leased, calls) == (1, 1), errors
    assert len(errors) == 5 and all("daily budget" in e for e in errors), errors
    # Settled: the lease carries the cost, no reservation is left behind.
    assert not LeaseRequest.objects.filter(reserved__gt=0).exists()


def test_an_ambiguous_lease_counts_against_the_budget_at_its_worst_case(personas, items, sim):
    member = personas["member"]
    budget(member, "0.35")  # 1002 costs 0.2 a number: room for one number, not two
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    with pytest.raises(AmbiguousLease):
        services.lease_numbers(member, items["1001"], key="a" * 32)  # 0.1 at most
    sim.config(timeout_rate=0, fault_endpoints="")
    req = services.lease_numbers(member, items["1002"], key="b" * 32)  # 0.1 + 0.2 fits
    assert req.outcome == LeaseRequest.Outcome.DONE
    with pytest.raises(services.ServiceError, match="daily budget"):
        services.lease_numbers(member, items["1002"], key="c" * 32)  # 0.5 would not
    assert sim.stats()["requests"]["get_numbers"] == 2
    assert LeaseRequest.objects.get(key="a" * 32).reserved == Decimal("0.1")


def test_a_refused_or_failed_lease_gives_its_reservation_back(personas, items, sim):
    member = personas["member"]
    budget(member, "0.15")
    sim.config(error_rate=1.0, fault_endpoints="verify")
    from django.core.cache import cache

    cache.delete(f"zhima:session:{items['1001'].account_id}")  # the next call verifies first
    with pytest.raises(services.ServiceError, match="HTTP 500"):
        services.lease_numbers(member, items["1001"], key="f" * 32)
    sim.config(error_rate=0, fault_endpoints="")
    assert LeaseRequest.objects.get(key="f" * 32).reserved == 0
    req = services.lease_numbers(member, items["1001"], key="g" * 32)
    assert req.outcome == LeaseRequest.Outcome.DONE
