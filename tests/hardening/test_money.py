"""Money under concurrent clicks: budgets hold and sends are claimed before they are made
(threads against the live simulator, SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest

from accounts.models import Membership
from accounts.registry import forget_clients
from leases import services
from leases.errors import AmbiguousLease
from leases.models import Lease, LeaseRequest, Message
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


# -- sends -----------------------------------------------------------------------------------


def _sent_calls(sim):
    return sim.stats()["requests"].get("send_sms", 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(2))
def test_eight_concurrent_sends_on_a_one_sms_item_make_one_upstream_call(
    personas, items, sim, settings, round_
):
    settings.ZHIMA_READ_TIMEOUT = 15
    forget_clients()
    member = personas["member"]
    req = services.lease_numbers(member, items["1003"], key=f"s{round_}" * 16)
    lease = Lease.objects.get(request=req)
    sim.config(latency_ms=200)
    fresh = [Lease.objects.select_related("item", "account").get(pk=lease.pk) for _ in range(8)]
    errors = hammer(
        [
            lambda x=x, n=n: services.send_sms(member, x, f"hello {n}", key=f"{n:032x}")
            for n, x in enumerate(fresh)
        ]
    )
    assert _sent_calls(sim) == 1, errors
    assert sim.stats()["sms_sent"] == 1
    assert len(errors) == 7 and all("one SMS only" in e for e in errors), errors
    assert Message.objects.filter(lease=lease, direction="out").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_on_a_several_sms_item_sends_once(personas, items, sim, settings):
    settings.ZHIMA_READ_TIMEOUT = 15
    forget_clients()
    member = personas["member"]
    req = services.lease_numbers(member, items["1004"], key="t" * 32)
    lease = Lease.objects.get(request=req)
    sim.config(latency_ms=200)
    fresh = [Lease.objects.select_related("item", "account").get(pk=lease.pk) for _ in range(2)]
    errors = hammer([lambda x=x: services.send_sms(member, x, "hi", key="1" * 32) for x in fresh])
    assert _sent_calls(sim) == 1, errors
    assert Message.objects.filter(lease=lease, direction="out").count() == 1
    # A second SMS, with its own key, goes: the item sends several.
    services.send_sms(member, lease, "again", key="2" * 32)
    assert _sent_calls(sim) == 2


def test_a_send_of_unknown_outcome_stays_claimed_and_a_refused_one_does_not(personas, items, sim):
    member = personas["member"]
    req = services.lease_numbers(member, items["1003"], key="u" * 32)
    lease = Lease.objects.get(request=req)
    sim.config(error_rate=1.0, fault_endpoints="send_sms")  # an HTTP 500: it may have gone
    with pytest.raises(services.ServiceError):
        services.send_sms(member, lease, "first", key="3" * 32)
    # The claim stays, its outcome unknown: no second SMS on a one-SMS item.
    assert Message.objects.get(lease=lease).status == "unknown"
    sim.config(error_rate=0, fault_endpoints="")
    with pytest.raises(services.ServiceError, match="one SMS only"):
        services.send_sms(member, lease, "second", key="4" * 32)
    assert _sent_calls(sim) == 1
    # A definite refusal sent nothing: the claim goes (the number was released elsewhere).
    req = services.lease_numbers(member, items["1003"], key="v" * 32)
    other = Lease.objects.get(request=req)
    outside = sim.client()
    outside.release([other.phone], item_id="1003")
    outside.close()
    with pytest.raises(services.ServiceError):
        services.send_sms(member, other, "to a released number", key="5" * 32)
    assert not Message.objects.filter(lease=other).exists()
