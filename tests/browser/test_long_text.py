"""The longest values a member or an SMS can bring (a 100-character tag without spaces, as the
test plugins write them, and a 500-character SMS without spaces) wrap instead of widening the
page: at phone width no page scrolls sideways, and on a desk the History table keeps its last
columns in view."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts import tokens
from leases import services
from leases.models import Lease

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TAG = "pytest-zhima-" + "a1b2c3d4e5" * 8 + "x" * 7  # 100 characters, no space
SMS = "【抖音】验证码：736251，" + "Z" * 485  # 500 characters, no space
TOKEN = "nightly-ci-" + "t" * 69  # 80 characters, no space


@pytest.fixture
def long_lease(personas, items, sim, poller):
    _row, raw = tokens.issue(personas["member"], TOKEN)
    user = tokens.authenticate(raw)
    req = services.lease_numbers(user, items["1005"], key="l" * 32, tag=TAG)
    one = Lease.objects.get(request=req)
    assert len(SMS) == 500 and len(TAG) == 100
    sim.deliver(one.phone, SMS)
    return one


def sign_in(page, live_server):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_no_page_is_wider_than_a_phone(page, live_server, long_lease, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/leases/{long_lease.pk}/")
    expect(page.locator("#code")).to_have_text("736251", timeout=15000)
    shot(page, "long-text-lease-390")
    wide = {}
    for path in (
        f"/leases/{long_lease.pk}/",
        "/active/",
        f"/history/?tag={TAG}",
        f"/requests/{long_lease.request_id}/",
        "/",
    ):
        page.goto(live_server.url + path)
        if page_width(page) > 390:
            wide[path] = page_width(page)
    assert wide == {}


def test_the_history_table_keeps_its_columns_in_view(page, live_server, long_lease, shot):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/leases/{long_lease.pk}/")
    expect(page.locator("#code")).to_have_text("736251", timeout=15000)
    page.goto(live_server.url + "/history/")
    shot(page, "long-text-history-1280")
    wrap = page.locator(".table-wrap").first
    sizes = wrap.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert sizes[0] <= sizes[1], sizes
    assert page_width(page) <= 1280
