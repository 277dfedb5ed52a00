"""The lease form in a real browser: the price follows the quantity before submitting, and a
slow upstream (8 s) shows the lease button counting the seconds until the number arrives."""

import re
import time

import pytest
from playwright.sync_api import expect

from accounts.registry import client_for, forget_clients
from leases.models import Lease

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member_page(page, live_server, personas, items, sim, poller):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    return page


def test_the_price_follows_the_item_and_quantity(member_page, live_server, shot):
    page = member_page
    page.goto(live_server.url + "/lease/new/")
    expired = page.locator("select[name=item] option", has_text="1007")
    expect(expired).to_be_disabled()
    expect(expired).to_contain_text("项目已过期")
    page.select_option("select[name=item]", label="Sandbox · 1005 支付宝收发（类型5）")
    expect(page.locator("#quote-total")).to_have_text("≈ 0.50")
    page.fill("input[name=quantity]", "3")
    expect(page.locator("#quote-total")).to_have_text("≈ 1.50")
    shot(page, "lease-form-quote")


def test_a_slow_upstream_shows_progress_with_elapsed_seconds(
    member_page, live_server, sim, settings, shot, account
):
    page = member_page
    settings.ZHIMA_LEASE_READ_TIMEOUT = 20  # wait out the slow answer (tests default to 2 s)
    forget_clients()
    client_for(account).verify()  # the session is fresh: only the lease call is slow
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", label="Sandbox · 1003 抖音发一条（类型3）")
    expect(page.locator("#item-info h2")).to_contain_text("1003")
    sim.config(latency_ms=8000)
    started = time.monotonic()
    page.click("#lease-submit")
    button = page.locator("#lease-submit")
    expect(button).to_have_text(re.compile(r"^Leasing… [0-2] s$"), timeout=2000)
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button).to_be_disabled()
    expect(page.locator(".lease-progress")).to_be_visible()
    expect(button).to_have_text("Leasing… 4 s", timeout=6000)
    shot(page, "lease-progress")
    page.wait_for_url(re.compile(r".*/leases/\d+/$"), timeout=20000)
    assert time.monotonic() - started >= 8
    assert Lease.objects.count() == 1 and sim.stats()["requests"]["get_numbers"] == 1
    sim.config(latency_ms=0)
