"""Numbers a lost lease answer may have leased: released all once the account is idle."""

import threading

import pytest

from accounts.models import ApiCall, DeveloperAccount
from leases import reconcile, services
from leases.errors import AmbiguousLease, ServiceError
from leases.models import Lease, LeaseRequest, LeaseState
from leases.tasks import reconcile_accounts

pytestmark = pytest.mark.backend


def lose_a_lease_answer(personas, item, sim, key="lost"):
    """A lease whose answer comes after the console gave up: the upstream leased a number the
    console cannot name."""
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    with pytest.raises(AmbiguousLease, match="frees them by itself"):
        services.lease_numbers(personas["member"], item, key=key)
    sim.config(timeout_rate=0, fault_endpoints="")
    assert len(sim.leases()) == 1 and not Lease.objects.exists()


def test_an_idle_account_is_released_all_after_a_lost_lease_answer(personas, items, sim):
    lose_a_lease_answer(personas, items["1001"], sim)
    assert reconcile_accounts() == {"Sandbox": "released"}
    assert sim.leases() == []
    call = ApiCall.objects.get(endpoint="release_all")
    assert call.actor == "task:reconcile" and call.outcome == "ok"
    # Covered: the next run has nothing to do, and the account is open for leases again.
    assert reconcile_accounts() == {"Sandbox": "clear"}
    services.lease_numbers(personas["member"], items["1001"], key="after")
    assert DeveloperAccount.objects.get(pk=items["1001"].account_id).reconciling_since is None


def test_a_busy_account_keeps_its_numbers_until_it_is_idle(personas, items, sim):
    lose_a_lease_answer(personas, items["1001"], sim)
    req = services.lease_numbers(personas["member"], items["1002"], key="busy")
    (waiting,) = Lease.objects.filter(request=req)
    assert reconcile.reconcile(waiting.account) == "busy"
    assert len(sim.leases()) == 2 and not ApiCall.objects.filter(endpoint="release_all").exists()
    services.release(personas["member"], [waiting])
    assert reconcile.reconcile(waiting.account) == "released"
    assert sim.leases() == []


def test_a_lease_request_in_flight_keeps_the_account_busy(personas, items, sim):
    lose_a_lease_answer(personas, items["1001"], sim)
    account = items["1001"].account
    LeaseRequest.objects.create(key="flying", account=account, item=items["1001"], quantity=1)
    assert reconcile.reconcile(account) == "busy"
    assert len(sim.leases()) == 1


def test_a_lease_while_the_account_is_being_reconciled_is_refused_and_sends_nothing(
    personas, items, sim
):
    from django.utils import timezone

    account = items["1001"].account
    DeveloperAccount.objects.filter(pk=account.pk).update(reconciling_since=timezone.now())
    with pytest.raises(ServiceError, match="releasing this account's numbers"):
        services.lease_numbers(personas["member"], items["1001"], key="during")
    assert LeaseRequest.objects.get(key="during").outcome == LeaseRequest.Outcome.REFUSED
    assert sim.stats()["requests"].get("get_numbers", 0) == 0


def test_a_mark_left_by_a_dead_reconciler_expires(personas, items, sim):
    from datetime import timedelta

    from django.utils import timezone

    account = items["1001"].account
    old = timezone.now() - timedelta(minutes=5)
    DeveloperAccount.objects.filter(pk=account.pk).update(reconciling_since=old)
    services.lease_numbers(personas["member"], items["1001"], key="later")
    assert Lease.objects.filter(state=LeaseState.WAITING).count() == 1


def test_ambiguity_older_than_the_forced_release_needs_nothing(personas, items, sim, settings):
    from datetime import timedelta

    from django.utils import timezone

    lose_a_lease_answer(personas, items["1001"], sim)
    later = timezone.now() + timedelta(minutes=31)
    assert reconcile.reconcile_accounts(later) == {}
    assert len(sim.leases()) == 1


@pytest.mark.django_db(transaction=True)
def test_leases_racing_a_reconciliation_either_wait_or_are_kept(personas, items, sim):
    """Eight lease requests race a reconciliation: each number leased ends up with a lease
    that still holds it upstream (none is freed by the release all behind its back)."""
    lose_a_lease_answer(personas, items["1001"], sim)
    account = items["1001"].account
    results, barrier = [], threading.Barrier(9)

    def lease(n):
        barrier.wait()
        try:
            services.lease_numbers(personas["member"], items["1001"], key=f"race{n}")
            results.append("leased")
        except ServiceError:
            results.append("refused")

    def settle():
        barrier.wait()
        results.append(reconcile.reconcile(account))

    threads = [threading.Thread(target=lease, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=settle))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    held = {x.phone for x in Lease.objects.filter(state=LeaseState.WAITING)}
    upstream = {x["phoneNo"] for x in sim.leases()}
    assert held <= upstream  # no lease lost its number to the release all
    assert results.count("leased") == len(held)
    if "released" in results:
        assert upstream == held  # and the lost number went with it
