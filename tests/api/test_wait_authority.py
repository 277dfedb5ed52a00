"""A waiting ``/code`` request keeps only the authority it still has: a token revoked or a
member removed from the account mid-wait gets its 401 or 404, never the code — both when a
message arrives and when none does (the wait re-checks every few seconds)."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from accounts.models import ApiToken, Membership
from leases.models import Lease, LeaseState

pytestmark = [pytest.mark.usefixtures("transactional_db"), pytest.mark.backend]


def lease(api, key):
    r = api.post("/leases", {"item": "1001", "tag": "auth"}, key=key)
    assert r.status_code == 201, r.content
    return r.json()["leases"][0]


def poll_once():
    from leases.poller import Poller

    Lease.objects.filter(state=LeaseState.WAITING).update(next_poll_at=timezone.now())
    Poller(run_seconds=0.6, tick=0.05).run()


def waiting_on(lease_id, timeout=10.0):
    """Until a long-poll waits on this lease (its watcher registered it)."""
    from leases.api import watch

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(lease_id in w.waiters for w in list(watch._watchers.values())):
            return
        time.sleep(0.02)
    raise AssertionError("no long-poll is waiting")


def withdraw(how, member, token_name):
    if how == "revoke":
        ApiToken.objects.filter(name=token_name).update(revoked_at=timezone.now())
    else:
        Membership.objects.filter(user=member).delete()


@pytest.mark.parametrize(
    ("how", "status", "code"), [("revoke", 401, "unauthorized"), ("remove", 404, "not_found")]
)
def test_authority_withdrawn_mid_wait_gets_no_code(
    personas, items, api_for, sim, fast, how, status, code
):
    member = personas["member"]
    api = api_for(member, name="waiter")
    one = lease(api, "a")
    box = {}

    def wait():
        box["r"] = api.get(f"/leases/{one['id']}/code", wait=30)

    t = threading.Thread(target=wait)
    t.start()
    waiting_on(one["id"])
    withdraw(how, member, "waiter")
    sim.deliver(one["phone"], "【微信】验证码 604218，5分钟内有效。")
    poll_once()
    assert Lease.objects.get(pk=one["id"]).code == "604218"  # stored: it would be delivered
    t.join(20)
    assert not t.is_alive()
    r = box["r"]
    assert r.status_code == status, r.content
    assert r.json()["error"]["code"] == code and b"604218" not in r.content


@pytest.mark.parametrize(("how", "status"), [("revoke", 401), ("remove", 404)])
def test_authority_withdrawn_mid_wait_ends_the_wait_with_nothing_arriving(
    personas, items, api_for, fast, settings, how, status
):
    settings.ZHIMA_API_WAIT_RECHECK_SECONDS = 0.5
    member = personas["member"]
    api = api_for(member, name="waiter")
    one = lease(api, "b")
    box = {}

    def wait():
        box["r"] = api.get(f"/leases/{one['id']}/code", wait=8)
        box["at"] = time.monotonic()

    t = threading.Thread(target=wait)
    t.start()
    waiting_on(one["id"])
    withdraw(how, member, "waiter")
    withdrawn = time.monotonic()
    t.join(12)
    assert box["r"].status_code == status, box["r"].content
    assert box["at"] - withdrawn < 6  # ended by a re-check, not by the 8 s wait
