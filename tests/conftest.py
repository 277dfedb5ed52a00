"""Shared fixtures: a live simulator on a loopback port, clients, personas."""

from __future__ import annotations

import pytest
import requests

from accounts.upstream.client import ZhimaClient
from accounts.upstream.simulator import SimConfig, start_in_thread


class Sim:
    """A running simulator and helpers to steer and read it."""

    def __init__(self, server):
        self.server = server
        self.base_url = server.base_url
        self.root = self.base_url.removesuffix("zsmcode/")
        self.state = server.state

    def config(self, **knobs):
        r = requests.post(self.root + "_sim/config", json=knobs, timeout=5)
        r.raise_for_status()
        return r.json()

    def stats(self):
        return requests.get(self.root + "_sim/stats", timeout=5).json()

    def leases(self):
        return requests.get(self.root + "_sim/leases", timeout=5).json()

    def deliver(self, phone, text, item_id=""):
        data = {"phoneNo": phone, "text": text, "itemId": item_id}
        return requests.post(self.root + "_sim/sms", data=data, timeout=5)

    def client(self, account="demo", pkey="demo-pkey", **kw):
        kw.setdefault("read_timeout", 2.0)
        return ZhimaClient(self.base_url, account, pkey, **kw)


@pytest.fixture
def sim():
    """A fresh simulator per test: its counters start at zero. Automatic SMS are off so that
    tests decide what arrives; a test can turn them on."""
    server = start_in_thread(config=SimConfig(seed=1234, auto_sms=False))
    try:
        yield Sim(server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(sim):
    c = sim.client()
    yield c
    c.close()
