"""The pytest side: configuration from the environment, one lease per test, its teardown."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import warnings

import pytest

from .client import ZhimaApi, ZhimaApiError

TAG_MAX = 100  # the API's limit
_SESSION = secrets.token_hex(8)  # this pytest process
_attempts: dict[str, int] = {}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "zhima(item=None, account=None, area_code=None, carrier=None, phone=None, "
        "international=False): options of the number zhima_number leases for this test",
    )


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
def zhima_api():
    url, token = os.environ.get("ZHIMA_API_URL", ""), os.environ.get("ZHIMA_API_TOKEN", "")
    if not url or not token:
        pytest.fail("zhima_number needs ZHIMA_API_URL and ZHIMA_API_TOKEN", pytrace=False)
    api = ZhimaApi(url, token)
    yield api
    api.close()


@pytest.fixture
def zhima_number(request, zhima_api, zhima_run_id):
    """A number leased for this test, released when it ends, passed or failed."""
    mark = request.node.get_closest_marker("zhima")
    opts = dict(mark.kwargs) if mark else {}
    item = opts.pop("item", None) or os.environ.get("ZHIMA_ITEM", "")
    if not item:
        pytest.fail("zhima_number needs ZHIMA_ITEM (or @pytest.mark.zhima(item=…))", pytrace=False)
    opts.setdefault("account", os.environ.get("ZHIMA_ACCOUNT") or None)
    nodeid = request.node.nodeid
    # One key per lease this pytest run asks for: a request repeated after a lost answer (the
    # client's own retry) gets the first lease back, never a second number; a rerun of the
    # test (pytest-rerunfailures, a retried CI job) is a new attempt and a new number.
    attempt = _attempts[nodeid] = _attempts.get(nodeid, 0) + 1
    key = hashlib.sha256(f"{_SESSION}\n{nodeid}\n{attempt}".encode()).hexdigest()[:40]
    number = zhima_api.lease(item, key=key, tag=make_tag(zhima_run_id, nodeid), **opts)
    request.node.user_properties.append(("zhima_lease", number.id))
    request.node.user_properties.append(("zhima_phone", number.phone))
    try:
        yield number
    finally:
        try:
            number.release()
        except (ZhimaApiError, OSError) as exc:
            warnings.warn(
                f"pytest-zhima: releasing lease {number.id} ({number.phone}) failed: {exc}; "
                "the console releases it at its deadline",
                pytest.PytestWarning,
                stacklevel=1,
            )
