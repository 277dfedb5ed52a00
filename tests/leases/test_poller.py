"""The poller at a small scale, auto-release under a fast clock, and audit completeness."""

import time
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest

from accounts.models import ApiCall
from leases import services
from leases.models import EndReason, Lease, LeaseState, Message
from leases.poller import Poller

pytestmark = pytest.mark.backend


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.5
    settings.ZHIMA_READ_TIMEOUT = 0.3
    return settings


def lease(personas, item, key, quantity=1):
    req = services.lease_numbers(personas["member"], item, key=key, quantity=quantity)
    return list(Lease.objects.filter(request=req))


def test_every_waiting_lease_is_polled_at_the_cadence(personas, items, sim, fast):
    leases = lease(personas, items["1002"], "a", 10) + lease(personas, items["1005"], "b", 10)
    Lease.objects.update(next_poll_at=leases[0].leased_at)
    Poller(run_seconds=2.6, concurrency=8).run()
    times = defaultdict(list)
    for call in ApiCall.objects.filter(endpoint="get_sms").order_by("created_at"):
        times[call.phone].append(call.created_at)
    assert set(times) == {x.phone for x in leases}
    for stamps in times.values():
        assert 5 <= len(stamps) <= 7  # 2.6 s at 0.5 s
        gaps = [(b - a).total_seconds() for a, b in pairwise(stamps)]
        assert max(gaps) < 0.9
    assert all(x.polls >= 5 for x in Lease.objects.all())


def test_a_received_sms_gives_the_right_code_and_releases(personas, items, sim, fast):
    (one,) = lease(personas, items["1001"], "c")
    sim.deliver(one.phone, "【微信】验证码 604218，5分钟内有效。客服电话4008123123，订单¥35.20")
    Poller(run_seconds=1.5).run()
    one.refresh_from_db()
    assert one.code == "604218"
    assert one.state == LeaseState.RELEASED and one.end_reason == EndReason.CODE
    assert one.end_text == "code received"
    msg = Message.objects.get(lease=one)
    assert msg.code == "604218" and "4008123123" not in msg.candidates[:1]
    assert sim.leases() == []


def test_several_sms_items_keep_receiving(personas, items, sim, fast):
    (one,) = lease(personas, items["1005"], "d")
    sim.deliver(one.phone, "第一条 验证码 1111")
    Poller(run_seconds=1.2).run()
    one.refresh_from_db()
    assert one.state == LeaseState.RECEIVED and one.code == "1111"
    services.keep_waiting(personas["member"], one)
    sim.deliver(one.phone, "第二条 验证码 2222")
    Poller(run_seconds=1.2).run()
    one.refresh_from_db()
    assert one.state == LeaseState.RECEIVED and one.code == "2222"
    assert list(Message.objects.filter(lease=one).values_list("code", flat=True)) == [
        "1111",
        "2222",
    ]


def test_lost_and_timed_out_sms_end_the_lease_and_release(personas, items, sim, fast):
    sim.config(
        sms_lost_rate=0.5,
        sms_timeout_rate=0.5,
        sms_delay_min=0,
        sms_delay_max=0.1,
        sms_timeout_after=0.2,
    )
    lease(personas, items["1002"], "e", 6)
    Poller(run_seconds=1.8).run()
    states = Counter(Lease.objects.values_list("state", flat=True))
    assert states["failed"] + states["expired"] == 6
    assert sim.leases() == []


@pytest.mark.django_db(transaction=True)  # sessions lapse: poll threads write pending rows
def test_no_number_reaches_the_forced_release(personas, items, sim, fast):
    # 30 simulated minutes pass in 3 seconds; the console's deadline is scaled the same way,
    # and it releases 2 s (20 simulated minutes) before the upstream would: room for a release
    # retried after a lapsed session on a loaded machine, none for a release left to the end.
    sim.config(time_scale=600, sms_lost_rate=0, sms_timeout_rate=0)
    fast.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES = 30 / 600
    fast.ZHIMA_RELEASE_MARGIN_MINUTES = 2.0 / 60
    for item in ("1001", "1003", "1005"):
        lease(personas, items[item], "f" + item)
    Poller(run_seconds=3.5).run()
    assert set(Lease.objects.values_list("state", flat=True)) == {"released"}
    assert sim.stats()["force_released"] == 0
    assert sim.leases() == []


def test_the_wait_limit_expires_a_silent_lease(personas, items, sim, fast):
    items["1001"].wait_limit_seconds = 1
    items["1001"].save()
    (one,) = lease(personas, items["1001"], "g")
    Poller(run_seconds=1.8).run()
    one.refresh_from_db()
    assert one.state == LeaseState.EXPIRED and one.end_reason == EndReason.WAIT_LIMIT
    assert sim.leases() == []


def test_audit_rows_equal_the_simulators_requests_even_under_faults(personas, items, sim, fast):
    lease(personas, items["1002"], "h", 10)
    sim.config(timeout_rate=0.1, timeout_seconds=0.5, garbage_rate=0.1, error_rate=0.1, seed=4)
    Poller(run_seconds=2.5, concurrency=6).run()
    sim.config(timeout_rate=0, garbage_rate=0, error_rate=0)
    services.release_all(personas["owner"], items["1002"].account)
    served = sim.stats()["requests"]
    stored = Counter(ApiCall.objects.values_list("endpoint", flat=True))
    assert dict(stored) == served
    outcomes = Counter(ApiCall.objects.values_list("outcome", flat=True))
    assert outcomes["transport"] > 0 and outcomes["unreadable"] > 0


def test_a_second_poller_on_a_live_slot_stands_aside_and_takes_over_a_dead_one(
    personas, items, sim, fast
):
    import time

    from django.utils import timezone

    from leases.models import PollerHeartbeat
    from leases.poller import claim_slot

    fast.ZHIMA_POLLER_STALE_SECONDS = 1
    assert claim_slot(0, "someone-else")
    beat = PollerHeartbeat.objects.filter(slot=0, owner="someone-else")
    # The other loop is alive (it beat just now): a new one waits, then stands aside.
    start = time.monotonic()
    for _ in range(3):
        beat.update(beat_at=timezone.now())
        time.sleep(0.2)
    assert claim_slot(0, "third") is False
    # Once it stops beating for longer than the stale time, the slot is taken over.
    taken = Poller(slot=0, run_seconds=0.3).run()
    assert "skipped" not in taken
    assert time.monotonic() - start >= 1.0


@pytest.mark.django_db(transaction=True)
def test_two_pollers_side_by_side_poll_each_lease_once_per_interval(personas, items, sim, fast):
    import threading

    leases = lease(personas, items["1002"], "two", 10)
    Lease.objects.update(next_poll_at=leases[0].leased_at)
    loops = [Poller(slot=s, run_seconds=2.2, concurrency=4) for s in (0, 1)]
    threads = [threading.Thread(target=p.run) for p in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.totals.get("polled", 0) > 0 for p in loops)  # both did work
    times = defaultdict(list)
    for call in ApiCall.objects.filter(endpoint="get_sms").order_by("created_at"):
        times[call.phone].append(call.created_at)
    for stamps in times.values():
        assert len(stamps) <= 6  # 2.2 s at 0.5 s: never polled twice in one interval
        assert min((b - a).total_seconds() for a, b in pairwise(stamps)) > 0.3


def test_a_poll_that_cannot_be_sent_is_recorded_as_not_sent(personas, items, sim, fast):
    from accounts.models import DeveloperAccount
    from accounts.registry import forget_clients

    (one,) = lease(personas, items["1001"], "nokey")
    DeveloperAccount.objects.filter(pk=one.account_id).update(pkey_encrypted="gAAAAA-broken")
    forget_clients()
    Poller(run_seconds=1.2).run()
    calls = list(ApiCall.objects.filter(endpoint="get_sms").values_list("outcome", "msg"))
    assert calls and all(o == "transport" and m.startswith("not sent") for o, m in calls)
    assert sim.stats()["requests"].get("get_sms", 0) == 0
    one.refresh_from_db()
    assert one.state == LeaseState.WAITING


def test_a_tick_with_nothing_due_takes_no_write_lock(personas, items, sim, transactional_db):
    """An idle poller ticks ten times a second; on SQLite a claim's IMMEDIATE transaction
    would hold back every other writer each time. With nothing due it only reads."""
    import sqlite3

    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "sqlite" or not connection.settings_dict["NAME"]:
        pytest.skip("SQLite's write lock")
    services.lease_numbers(personas["member"], items["1001"], key="idle")
    lease = Lease.objects.get()
    Lease.objects.filter(pk=lease.pk).update(next_poll_at=timezone.now() + timedelta(hours=1))
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        assert services.claim_due(10) == []
        other.execute("BEGIN IMMEDIATE")  # the claim's lock was not held: it is free now
        other.execute("COMMIT")
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock ...
        started = time.monotonic()
        assert services.claim_due(10) == []  # ... and the idle tick does not wait for it
        assert time.monotonic() - started < 0.5
        other.execute("COMMIT")
        Lease.objects.filter(pk=lease.pk).update(next_poll_at=timezone.now())
        assert [d.lease_id for d in services.claim_due(10)] == [lease.pk]
    finally:
        other.close()


def test_numbers_leased_together_are_first_polled_apart(personas, items, sim, settings):
    """A suite's workers lease at the same moment; polled at the same moment every interval
    after, their codes would all be found in one round and their next requests reach the
    console at once. Each new lease's first poll is the interval give or take a tenth."""
    settings.ZHIMA_POLL_INTERVAL = 5.0
    leases = lease(personas, items["1002"], "spread", 10) + lease(personas, items["1005"], "s", 10)
    delays = [(x.next_poll_at - x.leased_at).total_seconds() for x in leases]
    assert all(4.5 <= d <= 5.5 for d in delays), delays
    assert len({round(d, 3) for d in delays}) >= 15  # not one instant for all
    assert max(delays) - min(delays) > 0.3
