"""A team member's day in a real browser: sign in, lease, watch the code arrive, copy it,
release, find it in the history and the audit log, in English and Chinese."""

import re

import pytest
from playwright.sync_api import expect

from leases.models import Lease, LeaseState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, live_server, personas, items, sim, poller):
    errors = []
    page.on(
        "console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
    )
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    page.errors = errors
    return page


def lease_via_form(page, live_server, label):
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", label=label)
    expect(page.locator("#item-info h2")).to_contain_text(label.split(" · ")[1][:4])
    page.click("#lease-submit")
    page.wait_for_url(re.compile(r".*/leases/\d+/$"))
    return Lease.objects.order_by("-pk").first()


def test_lease_watch_copy_release_and_find_it(signed_in, live_server, sim, shot):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    lease = lease_via_form(page, live_server, "Sandbox · 1003 抖音发一条（类型3）")
    expect(page.locator(".waiting")).to_be_visible()
    shot(page, "lease-waiting")
    assert (
        sim.deliver(
            lease.phone, "【抖音】您的验证码是 736251，5分钟内有效，客服4008123123"
        ).status_code
        == 200
    )
    expect(page.locator("#code")).to_have_text("736251", timeout=15000)
    shot(page, "lease-received")
    page.click("[data-copy]")
    expect(page.locator(".copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "736251"
    page.get_by_role("button", name="Release", exact=True).click()
    expect(page.locator(".state.s-released").first).to_be_visible()
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED and sim.leases() == []

    page.goto(live_server.url + f"/history/?q={lease.phone}")
    expect(page.locator("table")).to_contain_text(lease.phone)
    expect(page.locator("table")).to_contain_text("736251")
    shot(page, "history")
    page.goto(live_server.url + f"/audit/?phone={lease.phone}")
    expect(page.locator("table.audit")).to_contain_text("lease numbers")
    expect(page.locator("table.audit")).to_contain_text("release")
    page.locator("table.audit a:has-text('show')").first.click()
    expect(page.locator(".raw pre").first).to_be_visible()
    shot(page, "audit")
    for name, path in (
        ("overview", "/"),
        ("items", "/items/"),
        ("spend", "/spend/"),
        ("active", "/active/"),
        ("lease-form", "/lease/new/"),
    ):
        page.goto(live_server.url + path)
        shot(page, name)
    page.goto(live_server.url + "/spend/")
    page.wait_for_function("document.querySelector('#spend-chart').width > 0")
    assert not [e for e in page.errors if "Content Security Policy" in e or "Refused" in e]


def test_switch_to_chinese_and_back(signed_in, live_server):
    page = signed_in
    page.select_option("#lang-select", "zh-hans")
    expect(page.locator("h1")).to_have_text("概览")
    expect(page.locator("nav")).to_contain_text("审计日志")
    page.select_option("#lang-select", "en")
    expect(page.locator("h1")).to_have_text("Overview")


def test_blacklist_asks_for_confirmation(signed_in, live_server, sim, shot):
    page = signed_in
    lease = lease_via_form(page, live_server, "Sandbox · 1004 京东发多条（类型4）")
    page.get_by_role("link", name="Blacklist…").click()
    expect(page.locator("h1")).to_contain_text(f"Blacklist {lease.phone}?")
    shot(page, "blacklist-confirm")
    assert sim.stats()["blacklisted"] == 0
    page.get_by_role("button", name="Yes, blacklist it").click()
    expect(page.locator(".state.s-blocked").first).to_be_visible()
    assert sim.stats()["blacklisted"] == 1


def test_the_lease_form_works_without_javascript(browser, live_server, personas, items, sim):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", label="Sandbox · 1001 微信注册（类型1）")
    page.click("#lease-submit")
    expect(page.locator("h1 .mono")).to_have_text(re.compile(r"^\d{11}$"))
    context.close()
