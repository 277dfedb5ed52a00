"""The pytest side: configuration checked once at session start, the numbers of each test,
their teardown."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from .client import Number, ZhimaApi, ZhimaApiError

TAG_MAX = 100  # the API's limit
FIXTURES = ("zhima_number", "zhima_numbers")
_SESSION = secrets.token_hex(8)  # this pytest process
_attempts: dict[str, int] = {}


class ConfigError(Exception):
    """The kit's configuration cannot work: one line that names what to set."""


@dataclass
class Settings:
    api: ZhimaApi
    item: str = ""
    account: str | None = None
    # (account, item) -> how many numbers one request may lease
    per_request: dict[tuple[str, str], int] = field(default_factory=dict)


_SETTINGS = pytest.StashKey[Settings]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "zhima(item=None, quantity=1, account=None, area_code=None, carrier=None, phone=None, "
        "international=False): the numbers zhima_number / zhima_numbers lease for this test",
    )


def _wanted(item: pytest.Item) -> dict[str, Any]:
    mark = item.get_closest_marker("zhima")
    return dict(mark.kwargs) if mark else {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Check the configuration once, before any test runs, when a collected test uses the
    kit: a mistake is one line naming what to set, not an error in every test."""
    users = [i for i in items if any(f in getattr(i, "fixturenames", ()) for f in FIXTURES)]
    if not users:
        return
    try:
        config.stash[_SETTINGS] = check_configuration(os.environ, [_wanted(i) for i in users])
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-zhima: {exc}") from None


def check_configuration(env: Mapping[str, str], wanted: list[dict[str, Any]]) -> Settings:
    """The environment and the console, checked against what the tests ask for."""
    url = env.get("ZHIMA_API_URL", "").strip()
    token = env.get("ZHIMA_API_TOKEN", "").strip()
    if not url:
        raise ConfigError(
            "set ZHIMA_API_URL to the console's base URL (for example https://console.example.com)"
        )
    if not token:
        raise ConfigError(
            "set ZHIMA_API_TOKEN to an API token of the console (its API tokens page creates one)"
        )
    api = ZhimaApi(url, token)
    try:
        r = api.request("GET", "/items", retries=1, timeout=15)
    except requests.RequestException as exc:
        raise ConfigError(f"ZHIMA_API_URL={url}: the console cannot be reached ({exc})") from None
    envelope = _envelope(r)
    if r.status_code == 401 and envelope:
        raise ConfigError(
            f"ZHIMA_API_TOKEN is refused by the console at {url} (revoked, expired or mistyped):"
            " set ZHIMA_API_TOKEN to a valid token"
        )
    listing = _json(r) if r.status_code == 200 else None
    if not isinstance(listing, list):
        raise ConfigError(
            f"ZHIMA_API_URL={url} is not a Zhima Console (GET {api.base}/items answered "
            f"{r.status_code} {r.headers.get('Content-Type', '')}): set ZHIMA_API_URL to the "
            "console's base URL, without /api/v1"
        )
    per_request = {
        (i["account"], i["item"]): int(i.get("capabilities", {}).get("max_per_request", 1))
        for i in listing
    }
    accounts = sorted({a for a, _i in per_request})
    account = env.get("ZHIMA_ACCOUNT", "").strip() or None
    if account and account not in accounts:
        raise ConfigError(
            f"ZHIMA_ACCOUNT={account} is not a developer account with items that this token "
            f"reaches (it reaches: {', '.join(accounts) or 'none'})"
        )
    if account is None and len(accounts) == 1:
        account = accounts[0]
    if account is None and len(accounts) > 1 and any(not w.get("account") for w in wanted):
        raise ConfigError(
            f"the token reaches several developer accounts ({', '.join(accounts)}): "
            "set ZHIMA_ACCOUNT to the one to lease from"
        )
    item = env.get("ZHIMA_ITEM", "").strip()
    if not item and any(not w.get("item") for w in wanted):
        raise ConfigError(
            "set ZHIMA_ITEM to the item to lease (for example 1001), "
            "or name one per test with @pytest.mark.zhima(item=...)"
        )
    for w in wanted:
        acc, it = w.get("account") or account, str(w.get("item") or item)
        if (acc, it) not in per_request:
            source = f"ZHIMA_ITEM={it}" if not w.get("item") else f"the zhima marker's item {it}"
            have = sorted(i for a, i in per_request if a == acc)
            raise ConfigError(
                f"{source} is not an item of developer account {acc} in the console (it has: "
                f"{', '.join(have) or 'none'}): add it on the console's items page or set "
                "ZHIMA_ITEM to one of these"
            )
    return Settings(api, item, account, per_request)


def _json(r: requests.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _envelope(r: requests.Response) -> bool:
    body = _json(r)
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _run_id() -> str:
    # xdist workers share the controller's run uid, so one run is one tag prefix.
    return (
        os.environ.get("ZHIMA_RUN_ID")
        or os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12]
        or time.strftime("run-%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    )


def make_tag(run: str, nodeid: str) -> str:
    """``"<run> <node id>"``, cut to the API's 100 characters keeping the test's end (its
    name) and a short hash of the whole, so two long ids stay apart."""
    tag = f"{run} {nodeid}"
    if len(tag) <= TAG_MAX:
        return tag
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:6]
    keep = TAG_MAX - len(run) - len(digest) - 2
    return f"{run} {digest}…{nodeid[-keep:]}"


@pytest.fixture(scope="session")
def zhima_run_id() -> str:
    return _run_id()


@pytest.fixture(scope="session")
def zhima_settings(pytestconfig: pytest.Config) -> Settings:
    settings = pytestconfig.stash.get(_SETTINGS, None)
    if settings is None:  # the fixture was asked for at run time (request.getfixturevalue)
        try:
            settings = check_configuration(os.environ, [{}])
        except ConfigError as exc:
            pytest.fail(f"pytest-zhima: {exc}", pytrace=False)
        pytestconfig.stash[_SETTINGS] = settings
    return settings


@pytest.fixture(scope="session")
def zhima_api(zhima_settings: Settings) -> Iterator[ZhimaApi]:
    yield zhima_settings.api
    zhima_settings.api.close()


@pytest.fixture
def zhima_numbers(
    request: pytest.FixtureRequest, zhima_settings: Settings, zhima_api: ZhimaApi, zhima_run_id: str
) -> Iterator[list[Number]]:
    """Every number this test leases (``@pytest.mark.zhima(quantity=N)``, one by default),
    each released when the test ends, passed or failed."""
    opts = _wanted(request.node)
    quantity = int(opts.pop("quantity", 1))
    item = str(opts.pop("item", None) or zhima_settings.item)
    opts["account"] = opts.get("account") or zhima_settings.account
    per_request = max(1, zhima_settings.per_request.get((opts["account"], item), 1))
    nodeid = request.node.nodeid
    # One key per lease request this pytest run makes: a request repeated after a lost answer
    # (the client's own retry) gets the first lease back, never a second number; a rerun of
    # the test (pytest-rerunfailures, a retried CI job) is a new attempt and new numbers.
    attempt = _attempts[nodeid] = _attempts.get(nodeid, 0) + 1
    key = hashlib.sha256(f"{_SESSION}\n{nodeid}\n{attempt}".encode()).hexdigest()[:40]
    tag = make_tag(zhima_run_id, nodeid)
    numbers: list[Number] = []
    try:
        part = 0
        while len(numbers) < quantity:
            n = min(per_request, quantity - len(numbers))
            numbers += zhima_api.lease_many(
                item, key=f"{key}-{part}" if part else key, quantity=n, tag=tag, **opts
            )
            part += 1
        for number in numbers:
            number.numbers = numbers
            request.node.user_properties.append(("zhima_lease", number.id))
            request.node.user_properties.append(("zhima_phone", number.phone))
        yield numbers
    finally:
        for number in numbers:
            try:
                number.release()
            except (ZhimaApiError, OSError) as exc:
                warnings.warn(
                    f"pytest-zhima: releasing lease {number.id} ({number.phone}) failed: {exc}; "
                    "the console releases it at its deadline",
                    pytest.PytestWarning,
                    stacklevel=1,
                )


@pytest.fixture
def zhima_number(zhima_numbers: list[Number]) -> Number:
    """The test's (first) number; ``.numbers`` holds all of them."""
    return zhima_numbers[0]
