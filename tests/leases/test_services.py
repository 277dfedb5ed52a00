"""The services against the live simulator: each action, refusal, permission and budget."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.audit import CallContext
from accounts.models import ApiCall, Membership
from leases import services
from leases.catalog import refresh_item
from leases.errors import AmbiguousLease, ServiceError
from leases.models import (
    EndReason,
    Lease,
    LeaseEvent,
    LeaseRequest,
    LeaseState,
    Message,
    SendStatus,
)


def lease_one(user, item, key="k1", **kw):
    req = services.lease_numbers(user, item, key=key, **kw)
    assert req.outcome == LeaseRequest.Outcome.DONE, req.msg
    return Lease.objects.filter(request=req).first()


def test_it_leases_numbers_and_records_cost_and_deadlines(personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1002"], key="a", quantity=3)
    leases = list(Lease.objects.filter(request=req))
    assert len(leases) == 3
    assert {x.phone for x in leases} == {x["phoneNo"] for x in sim.leases()}
    first = leases[0]
    assert first.state == LeaseState.WAITING and first.user == personas["member"]
    assert first.cost == Decimal("0.2")
    assert (first.release_deadline - first.leased_at).total_seconds() == 25 * 60
    assert LeaseEvent.objects.filter(kind="leased").count() == 3
    call = ApiCall.objects.get(endpoint="get_numbers")
    assert call.actor == "member" and call.outcome == "ok" and call.params["quantity"] == "3"


def test_a_double_submit_leases_once(personas, items, sim):
    a = services.lease_numbers(personas["member"], items["1001"], key="same")
    b = services.lease_numbers(personas["member"], items["1001"], key="same")
    assert a.pk == b.pk
    assert sim.stats()["requests"]["get_numbers"] == 1
    assert Lease.objects.count() == 1


@pytest.mark.backend
def test_concurrent_double_submits_lease_once(personas, items, sim, transactional_db):
    results = []

    def submit():
        try:
            results.append(services.lease_numbers(personas["member"], items["1001"], key="dup"))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sim.stats()["requests"]["get_numbers"] == 1
    assert Lease.objects.count() == 1


@pytest.mark.parametrize(
    ("item_id", "kw", "msg"),
    [
        ("1007", {}, "项目已过期"),
        ("1001", {"quantity": 2}, "1 to 1"),
        ("1001", {"phone": "19900000000"}, "指定号码不存在"),
    ],
)
def test_refusals_are_shown_verbatim_and_recorded(personas, items, item_id, kw, msg):
    with pytest.raises(ServiceError, match=msg):
        services.lease_numbers(personas["member"], items[item_id], key="r", **kw)


def test_no_numbers_left_is_refused(personas, items, sim):
    sim.state.pool = sim.state.pool[:2]
    with pytest.raises(ServiceError, match="号码余量不足"):
        services.lease_numbers(personas["member"], items["1002"], key="x", quantity=5)
    assert LeaseRequest.objects.get(key="x").outcome == LeaseRequest.Outcome.REFUSED


def test_viewers_and_outsiders_cannot_lease(personas, items, sim):
    with pytest.raises(PermissionDenied):
        services.lease_numbers(personas["viewer"], items["1001"], key="v")
    with pytest.raises(Http404):
        services.lease_numbers(personas["outsider"], items["1001"], key="o")
    assert "get_numbers" not in sim.stats()["requests"]


@pytest.mark.backend
def test_budgets_limit_spending(personas, items, sim):
    m = Membership.objects.get(user=personas["member"])
    m.daily_budget = Decimal("0.5")
    m.save()
    services.lease_numbers(personas["member"], items["1002"], key="b1", quantity=2)  # 0.4
    with pytest.raises(ServiceError, match="daily budget"):
        services.lease_numbers(personas["member"], items["1002"], key="b2", quantity=1)
    m.daily_budget, m.monthly_budget = None, Decimal("0.1")
    m.save()
    with pytest.raises(ServiceError, match="monthly budget"):
        services.lease_numbers(personas["member"], items["1002"], key="b3")
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_an_ambiguous_lease_is_not_repeated(personas, items, sim, settings):
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    with pytest.raises(AmbiguousLease, match="not repeated"):
        services.lease_numbers(personas["member"], items["1001"], key="amb")
    assert LeaseRequest.objects.get(key="amb").outcome == LeaseRequest.Outcome.AMBIGUOUS
    assert sim.stats()["requests"]["get_numbers"] == 1
    with pytest.raises(AmbiguousLease):
        services.lease_numbers(personas["member"], items["1001"], key="amb2")
    assert ApiCall.objects.filter(endpoint="get_numbers", outcome="transport").count() == 2


def test_a_failed_verification_before_a_lease_is_a_plain_failure(personas, items, sim):
    from django.core.cache import cache

    cache.delete(f"zhima:session:{items['1001'].account_id}")  # the next call verifies first
    sim.config(error_rate=1.0, fault_endpoints="verify")
    with pytest.raises(ServiceError, match="HTTP 500") as info:
        services.lease_numbers(personas["member"], items["1001"], key="v500")
    assert not isinstance(info.value, AmbiguousLease)
    assert LeaseRequest.objects.get(key="v500").outcome == LeaseRequest.Outcome.FAILED
    assert sim.stats()["requests"].get("get_numbers", 0) == 0


def test_the_lease_call_waits_out_a_late_answer_that_other_calls_give_up_on(
    personas, items, sim, settings
):
    from accounts.registry import forget_clients

    settings.ZHIMA_LEASE_READ_TIMEOUT = 4
    forget_clients()
    try:
        sim.config(timeout_rate=1.0, timeout_seconds=2.5, fault_endpoints="get_numbers,details")
        req = services.lease_numbers(personas["member"], items["1001"], key="late")
        (lease,) = Lease.objects.filter(request=req)
        assert [x["phoneNo"] for x in sim.leases()] == [lease.phone]
        with pytest.raises(ServiceError):  # the same lateness on any other call: given up on
            refresh_item(items["1001"].account, "1001", CallContext.for_task("test"))
    finally:
        forget_clients()


def test_release_groups_per_item_and_ends_leases(personas, items, sim):
    a = lease_one(personas["member"], items["1002"], "r1", quantity=2)
    b = lease_one(personas["member"], items["1001"], "r2")
    leases = list(Lease.objects.all())
    counts = services.release(personas["member"], leases)
    assert counts["released"] == 3
    assert sim.stats()["requests"]["release"] == 2
    assert sim.leases() == []
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.state == b.state == LeaseState.RELEASED
    assert (a.end_reason, a.end_params) == (EndReason.USER, {"user": "member"})
    assert a.end_text == "released by member"


@pytest.mark.parametrize("loaded", [True, False], ids=["rows-with-item-and-account", "bare"])
def test_release_ends_the_leases_as_given_and_leaves_the_callers_rows_alone(
    personas, items, sim, loaded
):
    """Rows read with their item and account are released from copies of them; bare rows
    are read again. Either way each lease ends with its own reason, once, upstream too."""
    lease_one(personas["member"], items["1002"], "g1", quantity=2)
    lease_one(personas["member"], items["1001"], "g2")
    rows = Lease.objects.order_by("pk")
    rows = list(rows.select_related("item", "account") if loaded else rows)
    counts = services.release(personas["member"], rows, EndReason.ADMIN)
    assert counts["released"] == 3 and counts["queued"] == 3
    assert sim.leases() == [] and sim.stats()["requests"]["release"] == 2
    assert {x.state for x in rows} == {LeaseState.WAITING}
    ended = list(Lease.objects.order_by("pk"))
    assert {(x.state, x.end_reason) for x in ended} == {(LeaseState.RELEASED, EndReason.ADMIN)}
    assert {x.item.item_id for x in ended} == {"1001", "1002"}
    assert LeaseEvent.objects.filter(kind="released").count() == 3


@pytest.mark.backend
def test_two_threads_releasing_one_lease_make_one_call(personas, items, sim, transactional_db):
    lease = lease_one(personas["member"], items["1001"])
    barrier = threading.Barrier(4)

    def go():
        barrier.wait()
        services.release(personas["member"], [lease])

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sim.stats()["requests"]["release"] == 1
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED
    assert LeaseEvent.objects.filter(lease=lease, kind="released").count() == 1


def test_a_failed_release_is_retried_not_lost(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    sim.config(error_rate=1.0, fault_endpoints="release")
    counts = services.release(personas["member"], [lease])
    assert counts["retry"] == 1
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASING
    sim.config(error_rate=0.0)
    Lease.objects.filter(pk=lease.pk).update(next_poll_at=lease.leased_at)
    services.release_due(CallContext.for_task("test"))
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED and sim.leases() == []


def test_release_one_releases_the_lease(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    services.release_one(personas["member"], lease)
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED and sim.leases() == []


def test_release_one_of_an_unconfirmed_release_is_pending(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    sim.config(error_rate=1.0, fault_endpoints="release")
    with pytest.raises(services.ReleasePending):
        services.release_one(personas["member"], lease)
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASING


def test_release_one_of_an_ended_lease_is_not_held(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    services.release_one(personas["member"], lease)
    with pytest.raises(services.NotHeld):
        services.release_one(personas["member"], lease)


def test_blacklist_needs_an_operator_and_blocks(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    with pytest.raises(PermissionDenied):
        services.blacklist(personas["viewer"], lease)
    services.blacklist(personas["member"], lease)
    lease.refresh_from_db()
    assert lease.state == LeaseState.BLOCKED
    assert sim.stats()["blacklisted"] == 1
    with pytest.raises(ServiceError):
        services.blacklist(personas["member"], lease)


def test_blacklist_failure_restores_the_lease(personas, items, sim):
    lease = lease_one(personas["member"], items["1001"])
    sim.config(error_rate=1.0, fault_endpoints="block")
    with pytest.raises(ServiceError, match="HTTP 500"):
        services.blacklist(personas["member"], lease)
    lease.refresh_from_db()
    assert lease.state == LeaseState.WAITING
    assert (lease.end_state, lease.end_reason, lease.end_params) == ("", "", {})


def test_send_sms_and_its_status(personas, items, sim):
    one = lease_one(personas["member"], items["1001"], "s1")
    with pytest.raises(ServiceError, match="cannot send"):
        services.send_sms(personas["member"], one, "hi")
    lease = lease_one(personas["member"], items["1003"], "s2")
    with pytest.raises(ServiceError, match="empty"):
        services.send_sms(personas["member"], lease, "  ")
    services.send_sms(personas["member"], lease, "hello")
    assert sim.stats()["sms_sent"] == 1
    with pytest.raises(ServiceError, match="one SMS only"):
        services.send_sms(personas["member"], lease, "again")
    assert services.send_status(personas["member"], lease) == "发送中"
    sent = Message.objects.get(lease=lease, direction="out")
    # "发送中" (sending) is a state, not a refusal: the message stays sent, the answer noted.
    assert (sent.status, sent.status_msg) == (SendStatus.SENT, "发送中")
    sim.state.advance(3)  # delivered after 2 s
    assert services.send_status(personas["member"], lease) == "OK"
    assert Message.objects.get(lease=lease, direction="out").status == "delivered"


def test_release_all_is_for_managers_and_reconciles(personas, items, sim):
    lease_one(personas["member"], items["1002"], "ra", quantity=3)
    with pytest.raises(PermissionDenied):
        services.release_all(personas["member"], items["1002"].account)
    n = services.release_all(personas["owner"], items["1002"].account)
    assert n == 3
    assert not Lease.objects.filter(state__in=["waiting", "received", "releasing"]).exists()
    assert sim.leases() == []


def test_keep_waiting_is_for_several_sms_items(personas, items, sim):
    single = lease_one(personas["member"], items["1001"], "k1")
    Lease.objects.filter(pk=single.pk).update(state=LeaseState.RECEIVED)
    single.refresh_from_db()
    with pytest.raises(ServiceError, match="single SMS"):
        services.keep_waiting(personas["member"], single)
    several = lease_one(personas["member"], items["1005"], "k2")
    with pytest.raises(ServiceError, match="Only a number"):
        services.keep_waiting(personas["member"], several)
    Lease.objects.filter(pk=several.pk).update(state=LeaseState.RECEIVED)
    services.keep_waiting(personas["member"], several)
    several.refresh_from_db()
    assert several.state == LeaseState.WAITING
