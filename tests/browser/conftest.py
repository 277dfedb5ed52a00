"""Real Chromium (Debian's package) driven by Playwright, against a live server, the live
simulator and a poller thread."""

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
HERE = Path(__file__).resolve().parent
UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def _is_browser_test(item) -> bool:
    return Path(item.path).resolve().is_relative_to(HERE)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The browser tests run after every other test of the session: once Playwright's sync
    API has started, its event loop stays running in the main thread until the session ends,
    and Django refuses synchronous ORM calls there."""
    items.sort(key=_is_browser_test)  # stable: the order within each group is kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Django's async-safety guard is lifted for each browser test, from its setup to its
    teardown (the test's own ORM calls, and the database's flush, are plain synchronous
    calls on Playwright's loop), and nowhere else: in every other test a synchronous ORM call
    on an event loop (the API's long-polls) fails."""
    if not _is_browser_test(item):
        return (yield)
    before = os.environ.get(UNSAFE)
    os.environ[UNSAFE] = "true"
    try:
        return (yield)
    finally:
        if before is None:
            os.environ.pop(UNSAFE, None)
        else:
            os.environ[UNSAFE] = before


# axe-core from npm: `npm ci` in this folder (.ci/test does it once per lock).
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session", autouse=True)
def _axe_is_installed(request):
    """A run that selects an axe test without axe-core installed fails here, with the fix."""
    if any("axe" in item.nodeid for item in request.session.items) and not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests/browser` (.ci/test does)")


def sign_in(page, live_server, username="member"):
    """Through the sign-in form, as a persona of tests/conftest.py (password pw-<name>)."""
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def shot():
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        # caret="initial": no style injected for the shot, so the page's CSP stays quiet.
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")

    return take


@pytest.fixture
def poller(settings):
    """A poller loop on a thread for the length of the test."""
    from leases.poller import Poller

    settings.ZHIMA_POLL_INTERVAL = 0.5
    stop = threading.Event()
    loop = Poller(run_seconds=120, stop=stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield loop
    stop.set()
    thread.join(30)
