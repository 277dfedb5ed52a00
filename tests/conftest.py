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


def wait_until(predicate, timeout=10.0, step=0.05):
    """True as soon as ``predicate()`` is, False after ``timeout`` seconds: for tests that
    wait on a condition rather than for a fixed time."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def run_async(make_coroutine):
    """Run a coroutine to its end on a fresh event loop in a thread of its own: the browser
    tests' Playwright keeps an event loop running in the main thread, where ``asyncio.run``
    refuses to start another."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def http_scope(path: str, query: str = "", headers: tuple = ()) -> dict:
    """An ASGI scope of a GET of ``path`` on the loopback, as uvicorn passes it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


async def asgi_get(path: str, query: str = "", headers: tuple = ()) -> int:
    """A GET through the project's ASGI application (what uvicorn serves), the client staying
    connected until the answer; its status."""
    import asyncio

    from zhima_site.asgi import application

    out: list[dict] = []
    sent: list[int] = []

    async def receive():
        if not sent:
            sent.append(1)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected

    async def send(message):
        out.append(message)

    await application(http_scope(path, query, headers), receive, send)
    return out[0]["status"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """For pytest-xdist (``--dist loadgroup``): the plugin's tests are to share one pip install,
    the example suite's another, the browser tests one Chromium, each group on one worker.
    (pytest-xdist 3.8 marks a group in ``item._nodeid``, which pytest 9.2 no longer reads, so
    today each worker that draws such a test makes its own.) Under xdist the slow tests start
    first, so that none of them is the last to begin."""
    for item in items:
        for folder in ("kit", "e2e", "browser"):
            if item.nodeid.startswith(f"tests/{folder}/"):
                item.add_marker(pytest.mark.xdist_group(folder))
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


class Sim:
    """A running simulator and helpers to steer and read it."""

    def __init__(self, server):
        self.server = server
        self.base_url = server.base_url
        self.root = self.base_url.removesuffix("zsmcode/")
        self.state = server.state
        # Control calls go straight to the loopback port, whatever proxy a test sets.
        self.http = requests.Session()
        self.http.trust_env = False

    def config(self, **knobs):
        r = self.http.post(self.root + "_sim/config", json=knobs, timeout=5)
        r.raise_for_status()
        return r.json()

    def stats(self):
        return self.http.get(self.root + "_sim/stats", timeout=5).json()

    def leases(self):
        return self.http.get(self.root + "_sim/leases", timeout=5).json()

    def deliver(self, phone, text, item_id=""):
        data = {"phoneNo": phone, "text": text, "itemId": item_id}
        return self.http.post(self.root + "_sim/sms", data=data, timeout=5)

    def client(self, account="demo", pkey="demo-pkey", **kw):
        kw.setdefault("read_timeout", 2.0)
        return ZhimaClient(self.base_url, account, pkey, **kw)

    def reset(self):
        r = self.http.post(self.root + "_sim/reset", timeout=5)
        r.raise_for_status()


@pytest.fixture(scope="session")
def _sim_server():
    """One simulator for the run; ``sim`` puts it back to its start before each test."""
    server = start_in_thread(config=SimConfig(seed=1234, auto_sms=False))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sim(_sim_server):
    """The simulator as new for each test: its counters start at zero, its knobs, seed, clock,
    quota and leases are those it started with. Automatic SMS are off so that tests decide
    what arrives; a test can turn them on. (A test that stops a simulator or needs one on a
    port of its own starts a private one with ``start_in_thread``.)"""
    s = Sim(_sim_server)
    s.reset()
    yield s
    s.reset()
    s.http.close()


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
def items(account, sim):
    """Items 1001-1007 as the simulator describes them, stored by the catalogue's own code
    from the simulator's details answer read by the wire parser: the refresh without its HTTP
    round trip (the refresh itself has tests of its own)."""
    from accounts.upstream import wire
    from accounts.upstream.simulator import render
    from leases.catalog import store_details

    def details(item_id):
        with sim.state.lock:
            answer = sim.state.details(account.upstream_account, {"itemId": item_id})
        return wire.read_details(item_id, wire.parse_fields(render(answer, "json")))

    return {
        i: store_details(account, i, details(i))
        for i in ("1001", "1002", "1003", "1004", "1005", "1006", "1007")
    }
