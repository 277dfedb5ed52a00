"""The simulator's own behaviour: wire formats, control endpoints, forced release, SMS."""

import time

import pytest
import requests

from accounts.upstream import wire
from accounts.upstream.simulator import SimConfig, start_in_thread


@pytest.mark.parametrize("fmt", ["json", "kv", "text"])
def test_the_same_client_reads_every_wire_format(sim, fmt):
    sim.config(wire_format=fmt)
    c = sim.client()
    assert c.verify().left_quantity == 1000
    phone = c.get_numbers("1003")[0]
    sim.deliver(phone, "【抖音】您的验证码是 5521，5分钟内有效")
    assert "5521" in c.get_sms("1003", phone).sm
    assert c.send_sms("1003", phone, "hi") == "OK"
    assert c.release([phone], "1003") == "OK"
    raw = requests.get(sim.base_url + "sms/releaseAll.php", timeout=5).content
    if fmt == "text":
        assert raw.decode() == "会话已过期，请重新验证密钥"
    elif fmt == "kv":
        assert raw.startswith(b"msg=")
    else:
        assert raw.startswith(b"{")
    assert wire.parse_fields(raw)["msg"] == "会话已过期，请重新验证密钥"


def test_it_force_releases_after_thirty_minutes(sim, zclient):
    phone = zclient.get_numbers("1001")[0]
    sim.state.advance(30 * 60 + 1)
    assert sim.leases() == []
    assert sim.stats()["force_released"] == 1
    with pytest.raises(Exception, match="号码未获取或已释放"):
        zclient.get_sms("1001", phone)


def test_it_sends_a_realistic_sms_by_itself_with_loss_and_timeout():
    server = start_in_thread(
        config=SimConfig(
            seed=5,
            sms_delay_min=0,
            sms_delay_max=0.05,
            sms_lost_rate=0.2,
            sms_timeout_rate=0.2,
            sms_timeout_after=0.1,
        )
    )
    try:
        from accounts.upstream.client import ZhimaClient

        c = ZhimaClient(server.base_url, "demo", "demo-pkey")
        phones = c.get_numbers("1002", 10) + c.get_numbers("1002", 10)
        server.state.advance(1)  # every SMS due, every timeout past
        statuses = [c.get_sms("1002", p).status for p in phones]
        assert statuses.count(2) >= 8
        assert {3, 4} & set(statuses)
        snap = {
            s["phoneNo"]: s
            for s in requests.get(
                server.base_url.replace("zsmcode/", "_sim/leases"), timeout=5
            ).json()
        }
        for p, st in zip(phones, statuses, strict=True):
            if st == 2:
                sms = snap[p]["sms"][0]
                assert sms["code"] in sms["text"] and 4 <= len(sms["code"]) <= 8
    finally:
        server.shutdown()


def test_control_endpoints_validate_their_input(sim):
    r = requests.post(sim.root + "_sim/config", json={"wire_format": "xml"}, timeout=5)
    assert r.status_code == 400
    r = requests.post(sim.root + "_sim/config", json={"error_rate": 2}, timeout=5)
    assert r.status_code == 400
    assert sim.deliver("13800000000", "x").status_code == 404
    assert requests.post(sim.root + "_sim/sms", data={}, timeout=5).status_code == 400
    assert requests.get(sim.root + "_sim/nothing", timeout=5).status_code == 404
    assert requests.get(sim.base_url + "nothing.php", timeout=5).status_code == 404


def test_stats_count_every_request_including_faulted_ones(sim, zclient):
    zclient.verify()
    sim.config(error_rate=0.5, garbage_rate=0.5, seed=9)
    for _ in range(6):
        with pytest.raises(Exception):  # noqa: B017 - every answer is faulted
            zclient.get_sms("1001", "13800000000")
    stats = sim.stats()
    assert stats["requests"]["get_sms"] == 6
    assert stats["faults"]["error"] + stats["faults"]["garbage"] == 6


def test_several_sms_arrive_for_types_five_and_six(sim, zclient):
    phone = zclient.get_numbers("1006")[0]
    sim.deliver(phone, "first 1111")
    assert zclient.get_sms("1006", phone).sm == "first 1111"
    assert zclient.get_sms("1006", phone).sm == "first 1111"  # a repeated poll loses nothing
    sim.deliver(phone, "second 2222")
    assert zclient.get_sms("1006", phone).sm == "second 2222"
    assert sim.stats()["sms_delivered"] == 2


def test_reset_puts_the_simulator_back_as_it_started(sim, zclient):
    start = {"config": sim.config(), "quota": zclient.verify().left_quantity}
    first = zclient.get_numbers("1003")[0]  # the seed decides which number comes first
    zclient.block("1003", first)
    zclient.get_numbers("1002", 3)
    sim.config(wire_format="kv", latency_ms=1, auto_sms=True, seed=99)
    sim.state.pool = sim.state.pool[:5]
    sim.state.set_scale(50)
    assert sim.state.sessions and zclient.verify().left_quantity < start["quota"]

    sim.reset()

    assert sim.leases() == [] and sim.state.sessions == {}
    assert sim.stats()["requests"] == {} and sim.stats()["blacklisted"] == 0
    assert requests.get(sim.root + "_sim/ledger", timeout=5).json() == []
    assert sim.config() == start["config"]
    assert sim.state.now() < 5  # the clock starts again, at its normal pace
    c = sim.client()
    assert c.verify().left_quantity == start["quota"]  # what was charged is back
    assert c.get_numbers("1003") == [first]  # same seed and pool, no blacklist


def test_its_texts_come_from_the_items_brand_to_the_number_itself():
    import re

    server = start_in_thread(
        config=SimConfig(
            seed=7,
            sms_delay_min=0,
            sms_delay_max=0.02,
            sms_lost_rate=0,
            sms_timeout_rate=0,
            extra_sms_rate=0,
        )
    )
    try:
        from accounts.upstream.client import ZhimaClient

        c = ZhimaClient(server.base_url, "demo", "demo-pkey")
        brands = {"1001": "微信", "1002": "淘宝", "1005": "支付宝"}
        texts = []
        for item, brand in brands.items():
            for phone in c.get_numbers(item, 10 if item == "1002" else 1):
                texts.append((item, brand, phone))
        for _ in range(3):  # more numbers of one-number items
            texts += [("1001", "微信", c.get_numbers("1001")[0])]
        time.sleep(0.2)
        for item, brand, phone in texts:
            sms = c.get_sms(item, phone).sm
            assert brand in sms, (item, sms)
            others = [n for n in re.findall(r"1\d{10}", sms) if n != phone]
            assert others == [], sms
            masked = re.findall(r"1\d\d\*{4}\d{4}", sms)
            assert all(m == f"{phone[:3]}****{phone[-4:]}" for m in masked), sms
    finally:
        server.shutdown()
