"""The zclient against the live simulator over loopback HTTP."""

import logging
import socket

import pytest
import requests
import responses

from accounts.upstream.client import ZhimaClient
from accounts.upstream.errors import (
    ConnectionDropped,
    ConnectRefused,
    HttpStatusError,
    NoAnswer,
    NotLeased,
    TransportError,
    UnreadableResponse,
    UpstreamRefusal,
)
from tests.conftest import wait_until


def test_it_verifies_and_reads_the_quota(zclient):
    result = zclient.verify()
    assert result.valid is True
    assert result.left_quantity == 1000


def test_it_runs_all_eight_endpoints(sim, zclient):
    details = zclient.item_details("1005")
    assert details.status == 1 and details.type == 5 and len(details.tiers) == 3
    numbers = zclient.get_numbers("1005", 2)
    assert len(numbers) == 2 and all(n.isdigit() for n in numbers)
    assert zclient.get_sms("1005", numbers[0]).status == 1
    assert sim.deliver(numbers[0], "【支付宝】验证码 482913，5分钟内有效").status_code == 200
    sms = zclient.get_sms("1005", numbers[0])
    assert sms.status == 2 and "482913" in sms.sm
    assert zclient.send_sms("1005", numbers[0], "hello") == "OK"
    # Not delivered yet: "发送中" (sending) is a state, not a refusal.
    assert zclient.send_status("1005", numbers[0]) == "发送中"
    sim.state.advance(3)  # delivered after 2 s
    assert zclient.send_status("1005", numbers[0]) == "OK"
    assert zclient.block("1005", numbers[0]) == "OK"
    assert zclient.release([numbers[1]], "1005") == "OK"
    more = zclient.get_numbers("1001")
    assert zclient.release_all() == "OK"
    assert sim.leases() == []
    stats = sim.stats()
    assert stats["numbers_leased"] == 3
    assert stats["blacklisted"] == 1
    assert stats["released_by_caller"] == 2
    assert stats["sms_sent"] == 1
    assert more[0] not in numbers


@pytest.mark.parametrize(
    ("call", "msg"),
    [
        (lambda c: c.get_numbers("1007"), "项目已过期"),
        (lambda c: c.get_numbers("1008"), "项目异常"),
        (lambda c: c.get_numbers("9999"), "项目编号不存在"),
        (lambda c: c.get_numbers("1001", 2), "每次可获取1-1个号码"),
        (lambda c: c.get_numbers("1001", phone_no="19999999999"), "指定号码不存在"),
        (lambda c: c.send_sms("1001", c.get_numbers("1001")[0], "hi"), "不支持发送短信"),
        (lambda c: c.release(["13800000000"], "1001"), "号码未获取或已释放"),
        (lambda c: c.block("1001", "13800000000"), "号码未获取或已释放"),
        (lambda c: c.item_details("9999"), "项目编号不存在"),
    ],
)
def test_it_carries_the_upstream_refusal_verbatim(zclient, call, msg):
    with pytest.raises(UpstreamRefusal) as info:
        call(zclient)
    assert msg in info.value.msg
    assert msg in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.release(["13800000000"], "1001"),
        lambda c: c.block("1001", "13800000000"),
        lambda c: c.get_sms("1001", "13800000000"),
    ],
    ids=["release", "block", "get_sms"],
)
def test_a_number_not_leased_is_a_typed_refusal(zclient, call):
    with pytest.raises(NotLeased) as info:
        call(zclient)
    assert "号码未获取或已释放" in info.value.msg


def test_a_specific_number_that_does_not_exist_is_a_plain_refusal(zclient):
    """The lease call's refusal is not about a held number, whatever its words."""
    with pytest.raises(UpstreamRefusal) as info:
        zclient.get_numbers("1001", phone_no="19999999999")
    assert not isinstance(info.value, NotLeased)


def test_it_refuses_a_wrong_pkey_without_leaking_it(sim):
    c = sim.client(pkey="wrong-secret-pkey")
    with pytest.raises(UpstreamRefusal) as info:
        c.verify()
    assert "密钥错误" in info.value.msg
    assert "wrong-secret-pkey" not in repr(info.value) + str(info.value) + repr(c)


def test_it_refuses_an_abnormal_account(sim):
    with pytest.raises(UpstreamRefusal, match="账户异常"):
        sim.client("frozen", "frozen-pkey").get_numbers("1001")


def test_it_refuses_a_busy_or_blacklisted_specific_number(zclient):
    phone = zclient.get_numbers("1001")[0]
    with pytest.raises(UpstreamRefusal, match="号码已被占用"):
        zclient.get_numbers("1001", phone_no=phone)
    zclient.block("1001", phone)
    with pytest.raises(UpstreamRefusal, match="已被拉黑"):
        zclient.get_numbers("1001", phone_no=phone)
    # the same number stays available for another item
    assert zclient.get_numbers("1003", phone_no=phone) == [phone]


def test_it_filters_by_area_carrier_and_international(sim, zclient):
    intl = zclient.get_numbers("1002", 3, international=True)
    assert all(n.startswith("+") for n in intl)
    unicom = zclient.get_numbers("1002", 3, carrier=2)
    assert all(n[:3] in {"130", "131", "132", "155", "156", "185", "186"} for n in unicom)
    area = zclient.get_numbers("1002", 2, area_code="0755")
    assert all(sim.state.numbers[n][1] == "0755" for n in area)


def test_it_reports_no_numbers_left(sim, zclient):
    sim.config(pool_per_carrier=0)  # the pool is built at start; empty it by leasing instead
    sim.state.pool = sim.state.pool[:3]
    with pytest.raises(UpstreamRefusal, match="号码余量不足"):
        zclient.get_numbers("1002", 10, international=False, area_code="010", carrier=1)


def test_it_refuses_when_the_quota_is_exhausted(sim):
    sim.state.accounts["demo"].balance = sim.state.accounts["demo"].balance.__class__("0.25")
    c = sim.client()
    c.get_numbers("1002")  # 0.2
    with pytest.raises(UpstreamRefusal, match="余额不足"):
        c.get_numbers("1002")
    assert c.verify().left_quantity == 0


def test_it_charges_the_quota_by_tier_price(sim, zclient):
    zclient.get_numbers("1002", 10)  # 10 × 0.2
    assert sim.state.accounts["demo"].balance == 998


# -- faults ------------------------------------------------------------------------------------


def test_a_read_timeout_is_an_ambiguous_transport_error_and_never_repeated(sim):
    c = sim.client(read_timeout=0.3)
    c.verify()
    sim.config(timeout_rate=1.0, timeout_seconds=1.0)
    with pytest.raises(NoAnswer) as info:
        c.get_numbers("1001")
    assert info.value.ambiguous is True
    assert info.value.seconds == 0.3
    assert wait_until(lambda: sim.stats()["numbers_leased"] == 1)
    stats = sim.stats()
    assert stats["requests"]["get_numbers"] == 1  # not repeated
    assert stats["numbers_leased"] == 1  # and it did lease: the ambiguity is real


class Recorder(list):
    """An audit hook that keeps each call once, with its outcome, and checks that every call
    was announced (pending) before its outcome came."""

    def __init__(self):
        super().__init__()
        self.announced = []

    def __call__(self, event):
        if event.outcome == "pending":
            self.announced.append(event)
        else:
            assert any(e is event for e in self.announced)
            self.append(event)


def test_every_request_is_announced_to_the_audit_hook_before_it_is_sent(sim, zclient):
    seen = []

    def hook(event):
        if event.outcome == "pending":
            seen.append((event.endpoint, dict(sim.stats()["requests"])))

    zclient.audit = hook
    zclient.get_numbers("1001")
    assert [name for name, _ in seen] == ["verify", "get_numbers"]
    assert seen[0][1].get("verify", 0) == 0 and seen[1][1].get("get_numbers", 0) == 0


def test_a_failing_write_ahead_sends_nothing(sim, zclient):
    zclient.verify()

    def hook(event):
        if event.outcome == "pending":
            raise RuntimeError("audit store down")

    zclient.audit = hook
    with pytest.raises(RuntimeError):
        zclient.get_numbers("1001")
    assert sim.stats()["requests"].get("get_numbers", 0) == 0


def test_connection_refused_is_a_clear_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events = Recorder()
    c = ZhimaClient(f"http://127.0.0.1:{port}/zsmcode/", "demo", "demo-pkey", audit=events)
    with pytest.raises(ConnectRefused) as info:
        c.verify()
    assert info.value.ambiguous is False
    assert "refused" in str(info.value)
    assert events[0].outcome == "transport"


def test_http_500_is_a_transport_error(sim, zclient):
    zclient.verify()
    sim.config(error_rate=1.0)
    with pytest.raises(HttpStatusError) as info:
        zclient.get_numbers("1001")
    assert info.value.http_status == 500
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_a_garbage_body_is_unreadable_and_kept(sim, zclient):
    zclient.verify()
    sim.config(garbage_rate=1.0, seed=3)
    events = Recorder()
    zclient.audit = events
    for _ in range(4):
        with pytest.raises(UnreadableResponse):
            zclient.get_sms("1001", "13800000000")
    assert {e.outcome for e in events} == {"unreadable"}
    assert any("Bad Gateway" in e.raw_body or "leftQuan" in e.raw_body for e in events)


def test_session_expiry_causes_exactly_one_reverify_and_repeat(sim, zclient):
    events = Recorder()
    zclient.audit = events
    phone = zclient.get_numbers("1001")[0]
    sim.state.advance(16 * 60)  # past the 15-minute session
    assert zclient.get_sms("1001", phone).status in (1, 3, 4)
    names = [(e.endpoint, e.outcome) for e in events]
    assert names[-3:] == [("get_sms", "refused"), ("verify", "ok"), ("get_sms", "ok")]
    assert sim.stats()["requests"]["verify"] == 2


def test_it_reverifies_before_the_session_lapses(sim):
    now = [1000.0]
    c = sim.client(clock=lambda: now[0])
    c.item_details("1001")
    now[0] += 14 * 60 + 1  # past 15 minutes less the margin
    c.item_details("1001")
    assert sim.stats()["requests"]["verify"] == 2


@responses.activate
def test_a_dropped_connection_on_get_numbers_is_ambiguous():
    base = "http://zhima.invalid/zsmcode/"
    responses.get(base + "pkey/verification.php", body='{"valid":"Y","leftQuantity":"5"}')
    responses.get(base + "phoneNos/get.php", body=requests.ConnectionError("reset by peer"))
    c = ZhimaClient(base, "demo", "s3cret-pkey-value")
    with pytest.raises(ConnectionDropped) as info:
        c.get_numbers("1001")
    assert info.value.ambiguous is True
    assert len([r for r in responses.calls if "get.php" in r.request.url]) == 1


def test_the_pkey_is_in_no_exception_log_or_audit_row(sim, caplog):
    secret = "demo-pkey"
    events = Recorder()
    c = sim.client(audit=events, read_timeout=0.2)
    caplog.set_level(logging.DEBUG)
    c.verify()
    sim.config(timeout_rate=1.0, timeout_seconds=0.5)
    errors = []
    try:
        c.verify()
    except TransportError as exc:
        errors.append(exc)
    bad = sim.client(pkey="another-secret-1")
    try:
        bad.verify()
    except UpstreamRefusal as exc:
        errors.append(exc)
    text = " ".join(repr(e) + str(e) for e in errors) + caplog.text
    text += " ".join(repr(e.params) + e.raw_body + e.msg for e in events)
    assert errors and events
    assert secret not in text
    assert "another-secret-1" not in text


def test_a_name_that_does_not_resolve_is_a_connection_never_made():
    c = ZhimaClient("http://zhima.invalid/zsmcode/", "demo", "demo-pkey")
    with pytest.raises(ConnectRefused) as info:
        c.verify()
    assert info.value.ambiguous is False
