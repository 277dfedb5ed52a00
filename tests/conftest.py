"""Shared fixtures: a live simulator on a loopback port, clients, personas."""

from __future__ import annotations

import pytest
import requests

from accounts.upstream.client import ZhimaClient
from accounts.upstream.simulator import SimConfig, start_in_thread


def test_database_url() -> str:
    """The test database as a ``DATABASE_URL``, for subprocesses (qcluster) that share it."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


# A helper, not a test (pytest reads the attribute; mypy knows no attributes on functions).
test_database_url.__test__ = False  # type: ignore[attr-defined]


def run_async(make_coroutine):
    """Run a coroutine to its end on a fresh event loop in a thread of its own: the browser
    tests' Playwright keeps an event loop running in the main thread, where ``asyncio.run``
    refuses to start another."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


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
def zclient(sim):
    c = sim.client()
    yield c
    c.close()


# -- Django personas and a sandbox account on the live simulator -------------------------------


@pytest.fixture(autouse=True)
def _fresh_clients(settings):
    """Each test gets new upstream clients, and the cache keeps no session across tests."""
    from django.core.cache import cache

    from accounts.registry import forget_clients

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    forget_clients()
    _clear_cache(cache)
    yield
    forget_clients()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in Chinese leaves its language
    active on the thread (LocaleMiddleware activates, nothing deactivates), and the services'
    messages of the next test would be Chinese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


def _clear_cache(cache):
    """Clear this run's cache keys only (on Redis, ``clear()`` would flush the whole database,
    the broker's queues included)."""
    from django.conf import settings as dj

    if "redis" not in dj.CACHES["default"]["BACKEND"].lower():
        cache.clear()
        return
    client = cache._cache.get_client(write=True)
    prefix = dj.CACHES["default"].get("KEY_PREFIX", "")
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def make_user(django_user_model):
    def make(username, **kw):
        return django_user_model.objects.create_user(
            username, f"{username}@example.com", "pw-" + username, **kw
        )

    return make


@pytest.fixture
def account(db, sim):
    from accounts.models import DeveloperAccount

    acc = DeveloperAccount(
        name="Sandbox", upstream_account="demo", base_url=sim.base_url, sandbox=True
    )
    acc.set_pkey("demo-pkey")
    acc.save()
    return acc


@pytest.fixture
def personas(account, make_user):
    """owner (manager), member (operator), viewer, and an outsider with an account of its own."""
    from accounts.models import DeveloperAccount, Membership, Role

    owner, member, viewer, outsider = (
        make_user(n) for n in ("owner", "member", "viewer", "outsider")
    )
    Membership.objects.create(user=owner, account=account, role=Role.MANAGER)
    Membership.objects.create(user=member, account=account, role=Role.OPERATOR)
    Membership.objects.create(user=viewer, account=account, role=Role.VIEWER)
    other = DeveloperAccount(name="Other", upstream_account="other", base_url=account.base_url)
    other.set_pkey("other-pkey")
    other.save()
    Membership.objects.create(user=outsider, account=other, role=Role.MANAGER)
    return {
        "owner": owner,
        "member": member,
        "viewer": viewer,
        "outsider": outsider,
        "other": other,
    }


@pytest.fixture
def as_(client, personas):
    """``as_("member")``: the test client, signed in as that persona."""

    def login(name):
        client.force_login(personas[name])
        return client

    return login


@pytest.fixture
def items(account):
    from accounts.audit import CallContext
    from leases.catalog import refresh_item

    ctx = CallContext.for_task("test")
    return {
        i: refresh_item(account, i, ctx)
        for i in ("1001", "1002", "1003", "1004", "1005", "1006", "1007")
    }
