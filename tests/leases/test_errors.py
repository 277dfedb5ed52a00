"""What a failed lease says: refused, unreachable or timed out, unreadable — and what became
of the money. Live-simulator faults where it can make them; ``responses`` for a dropped
connection, which it cannot."""

import socket

import pytest
import requests
import responses
from django.utils import translation

from accounts.upstream.errors import (
    ConnectionDropped,
    ConnectRefused,
    ConnectTimedOut,
    HttpStatusError,
    NoAnswer,
    UnreadableResponse,
    UpstreamRefusal,
)
from leases import services
from leases.errors import AmbiguousLease, ServiceError, upstream_error
from leases.models import LeaseRequest

NOT_LEASED = "No number was leased and nothing was charged."
MAY = "A number may have been leased and charged."


def lease(personas, item, key, **kw):
    with pytest.raises(ServiceError) as info:
        services.lease_numbers(personas["member"], item, key=key, **kw)
    return info.value


# -- the texts, per kind --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind", "what", "money", "ambiguous"),
    [
        (
            UpstreamRefusal("get_numbers", "号码余量不足"),
            "refused",
            "号码余量不足",
            NOT_LEASED,
            False,
        ),
        (
            ConnectRefused("get_numbers"),
            "unreachable",
            "could not be reached: the connection was refused.",
            NOT_LEASED,
            False,
        ),
        (
            ConnectTimedOut("get_numbers"),
            "timeout",
            "the connection timed out",
            NOT_LEASED,
            False,
        ),
        (
            NoAnswer("get_numbers", 25),
            "timeout",
            "did not answer within 25 seconds",
            MAY,
            True,
        ),
        (
            ConnectionDropped("get_numbers"),
            "unreachable",
            "the connection broke before the answer",
            MAY,
            True,
        ),
        (
            HttpStatusError("get_numbers", 502),
            "http",
            "error (HTTP 502)",
            MAY,
            True,
        ),
        (
            UnreadableResponse("get_numbers", "not JSON", "<html>"),
            "unreadable",
            "could not be read",
            MAY,
            True,
        ),
        # A verification before the lease call failed: nothing was sent, nothing leased.
        (
            NoAnswer("verify", 10),
            "timeout",
            "within 10 seconds",
            NOT_LEASED,
            False,
        ),
    ],
)
def test_it_names_the_failure_and_the_money(exc, kind, what, money, ambiguous):
    err = upstream_error(exc, lease=True)
    assert err.kind == kind and what in err.what and err.money.startswith(money)
    assert isinstance(err, AmbiguousLease) is ambiguous
    assert str(err) == f"{err.what} {err.money}"


def test_the_refusal_is_the_upstream_msg_verbatim():
    err = upstream_error(UpstreamRefusal("get_numbers", "  余额不足，请充值！ "), lease=True)
    assert err.what == "  余额不足，请充值！ "


def test_other_actions_say_nothing_about_money():
    err = upstream_error(ConnectionDropped("release"))
    assert err.money == "" and not isinstance(err, AmbiguousLease)
    assert upstream_error(UpstreamRefusal("send_sms", "发送失败")).what == "发送失败"


def test_the_texts_are_translated():
    with translation.override("zh-hans"):
        err = upstream_error(NoAnswer("get_numbers", 2))
        refused = upstream_error(UpstreamRefusal("get_numbers", "号码余量不足"))
    assert "2" in err.what and "秒" in err.what and "可能" in err.money
    assert "未获取" in refused.money or "没有" in refused.money


# -- the same, from the live simulator ----------------------------------------------------------


def test_a_refusal_leased_nothing(personas, items, sim):
    sim.state.pool = sim.state.pool[:1]
    err = lease(personas, items["1002"], "r" * 32, quantity=5)
    assert err.kind == "refused" and err.money == NOT_LEASED
    assert err.what == LeaseRequest.objects.get(key="r" * 32).msg  # verbatim
    assert sim.leases() == []


def test_a_timeout_may_have_leased(personas, items, sim):
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    err = lease(personas, items["1001"], "t" * 32)
    assert isinstance(err, AmbiguousLease) and err.kind == "timeout"
    assert "did not answer within 2 seconds" in err.what and err.money.startswith(MAY)
    assert len(sim.leases()) == 1  # it did: the console frees it (leases.reconcile)


def test_an_unreadable_answer_may_have_leased(personas, items, sim):
    sim.config(garbage_rate=1.0, fault_endpoints="get_numbers")
    err = lease(personas, items["1001"], "g" * 32)
    assert isinstance(err, AmbiguousLease) and err.kind in ("unreadable", "unreachable")
    assert err.money.startswith(MAY)


def test_an_http_error_may_have_leased(personas, items, sim):
    sim.config(error_rate=1.0, fault_endpoints="get_numbers")
    err = lease(personas, items["1001"], "h" * 32)
    assert isinstance(err, AmbiguousLease) and "error (HTTP 500)" in err.what


def test_an_unreachable_upstream_leased_nothing(personas, items, sim):
    services.lease_numbers(personas["member"], items["1001"], key="first".ljust(32, "0"))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account = items["1001"].account
    account.base_url = f"http://127.0.0.1:{port}/zsmcode/"
    account.save()
    # The shared session is still fresh: the lease call itself meets the closed port.
    err = lease(personas, items["1001"], "u" * 32)
    assert err.kind == "unreachable" and "connection was refused" in err.what
    assert err.money == NOT_LEASED and not isinstance(err, AmbiguousLease)
    assert LeaseRequest.objects.get(key="u" * 32).outcome == LeaseRequest.Outcome.FAILED


@responses.activate
def test_a_dropped_connection_may_have_leased(personas, items, sim):
    """The simulator cannot drop a connection mid-answer; ``responses`` can."""
    responses.add_passthru(sim.root)  # everything else still goes to the simulator
    responses.get(sim.base_url + "phoneNos/get.php", body=requests.ConnectionError("reset by peer"))
    err = lease(personas, items["1001"], "d" * 32)
    assert isinstance(err, AmbiguousLease) and "connection broke" in err.what
