"""Requests take turns at running (``zhima_site.admission``): first come, first served; a
request waiting on the upstream lets the next one run and comes back first; nobody waits
past the patience."""

from __future__ import annotations

import threading
import time

from tests.conftest import wait_until
from zhima_site.admission import Turns


def queued(turns: Turns) -> int:
    with turns.lock:
        return sum(1 for _r, _n, w in turns.queue if not w.gone)


def start(target, *args) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def test_requests_run_one_at_a_time_in_the_order_they_came():
    turns = Turns(1, patience=10)
    order: list[str] = []
    release_first = threading.Event()

    def request(name: str, hold: threading.Event | None = None) -> None:
        with turns.running():
            order.append(name)
            if hold is not None:
                hold.wait(5)

    first = start(request, "a", release_first)
    assert wait_until(lambda: order == ["a"])
    later = []
    for n, name in enumerate("bcde", 1):
        later.append(start(request, name))
        assert wait_until(lambda n=n: queued(turns) == n)
    assert order == ["a"]  # the others wait for the turn
    release_first.set()
    for t in [first, *later]:
        t.join(5)
    assert order == ["a", "b", "c", "d", "e"]
    assert turns.free == 1 and not turns.queue


def test_a_request_waiting_on_the_network_lets_the_next_run_and_comes_back_first():
    turns = Turns(1, patience=10)
    order: list[str] = []
    answer, b_done = threading.Event(), threading.Event()

    def a() -> None:
        with turns.running():
            order.append("a starts")
            with turns.waiting_on_network():
                answer.wait(5)
            order.append("a resumes")

    def b() -> None:
        with turns.running():
            order.append("b runs")
            b_done.wait(5)

    def c() -> None:
        with turns.running():
            order.append("c runs")

    ta = start(a)
    assert wait_until(lambda: order == ["a starts"])
    tb = start(b)
    assert wait_until(lambda: order == ["a starts", "b runs"])  # a's turn, lent while it waits
    tc = start(c)
    assert wait_until(lambda: queued(turns) == 1)
    answer.set()  # a is back from the network while b holds the turn and c waits
    assert wait_until(lambda: queued(turns) == 2)
    b_done.set()
    for t in (ta, tb, tc):
        t.join(5)
    assert order == ["a starts", "b runs", "a resumes", "c runs"]


def test_no_request_waits_past_the_patience():
    turns = Turns(1, patience=0.2)
    holding, done = threading.Event(), threading.Event()
    ran: list[float] = []

    def slow() -> None:
        with turns.running():
            holding.set()
            done.wait(5)

    def other() -> None:
        with turns.running():
            ran.append(time.monotonic())

    t = start(slow)
    assert holding.wait(5)
    began = time.monotonic()
    start(other).join(5)
    assert ran and 0.15 < ran[0] - began < 2  # ran while the slow one still held the turn
    done.set()
    t.join(5)
    # The one that gave up waiting is skipped: the turn is free again, not handed to nobody.
    assert turns.free == 1


def test_threads_without_a_turn_are_not_affected():
    """The poller's threads and the tests' call the upstream client outside any request."""
    turns = Turns(1, patience=10)
    with turns.waiting_on_network():
        assert turns.free == 1
    assert turns.free == 1


def test_the_upstream_client_lends_the_request_its_turn_while_it_waits(zclient):
    """Through the real client and the simulator: during the HTTP call the request's turn is
    free for another request."""
    from accounts.upstream import hooks

    turns = Turns(1, patience=10)
    free_during_call: list[int] = []
    original = hooks.network_wait

    def watching():
        cm = turns.waiting_on_network()

        class Spy:
            def __enter__(self):
                cm.__enter__()
                free_during_call.append(turns.free)

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Spy()

    hooks.network_wait = watching
    try:
        with turns.running():
            assert turns.free == 0
            zclient.item_details("1001")
            assert turns.free == 0  # taken back after the call
    finally:
        hooks.network_wait = original
    assert free_during_call and set(free_during_call) == {1}


def test_a_nested_run_is_the_same_turn():
    turns = Turns(1, patience=10)
    with turns.running():
        with turns.running():
            assert turns.free == 0
        assert turns.free == 0
    assert turns.free == 1 and not turns.queue


def test_waiting_for_another_threads_verification_lends_the_turn(zclient):
    """The client verifies its session under a lock that a request lending its turn for the
    upstream call may hold: a request waiting for that lock must not hold the turn meanwhile
    (the holder could not get its turn back to finish)."""
    from accounts.upstream import hooks

    turns = Turns(1, patience=30)
    original = hooks.network_wait
    hooks.network_wait = turns.waiting_on_network
    zclient.store.save({}, None)  # the session is due for verification
    done = threading.Event()

    def request():
        with turns.running():
            zclient.ensure_session()
        done.set()

    other_ran = threading.Event()

    def other_request():
        with turns.running():
            other_ran.set()

    try:
        with zclient._verify_lock:  # another request is verifying
            t = start(request)
            time.sleep(0.3)  # the request has its turn and waits for the lock
            start(other_request)
            assert other_ran.wait(5)  # the turn was free meanwhile (patience: 30 s)
            assert not done.is_set()
        t.join(10)
    finally:
        hooks.network_wait = original
    assert done.is_set() and turns.free == 1
    assert zclient._session_fresh()
