"""The console at a phone's width and in a lease's whole live life, in real Chromium: no page
wider than the screen with the longest values a member can make, a menu that folds, targets a
thumb can hit, a keyboard that reaches everything with a visible focus, a new code announced
to screen readers, and not one console error from the lease to its release."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Role
from leases import services
from leases.models import Lease, LeaseRequest

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LONG_TAG = "plugin-" + "x" * 93  # the longest tag a lease can carry (100 characters)
LONG_SMS = "【测试】验证码481209" + "A" * 486  # 500 characters without a space

WIDER = """() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  const page = document.scrollingElement.scrollWidth;
  if (page > w) out.push("page " + page);
  document.querySelectorAll("main *, header *").forEach(function (el) {
    const r = el.getBoundingClientRect();
    if (!r.width || r.right <= w + 1 || el.closest(".table-wrap")) return;
    out.push(el.tagName + "." + el.className + " " + Math.round(r.right));
  });
  return out.slice(0, 5);
}"""

# Visible controls smaller than 24 × 24 CSS px (WCAG 2.2 target size). Links inside a sentence
# are exempt there, as in WCAG: they sit in text, spaced by its lines.
SMALL_TARGETS = """() => {
  const out = [];
  const targets = "button, select, input:not([type=hidden]), .top a, .button, .pager a";
  document.querySelectorAll(targets).forEach(function (el) {
    const r = el.getBoundingClientRect();
    if (!r.width || el.closest(".sr-only, [hidden]")) return;
    if (el.matches("button.link") && el.closest("p, dd, li")) return;
    if (r.width >= 24 && r.height >= 24) return;
    out.push(el.tagName + "#" + el.id + "." + el.className + " " + r.width + "x" + r.height);
  });
  return out;
}"""


@pytest.fixture(autouse=True)
def _every_sms_arrives(sim):
    sim.config(sms_lost_rate=0, sms_timeout_rate=0)


def record_errors(page) -> list[str]:
    """Every console error and uncaught exception of the page (a CSP violation is one)."""
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return errors


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_no_page_is_wider_than_a_phone_with_the_longest_values(
    page, live_server, personas, items, sim, account, poller, lang, settings
):
    member = personas["member"]
    member.memberships.update(role=Role.MANAGER)  # the members page too
    req = services.lease_numbers(member, items["1002"], key="l" * 32, quantity=2, tag=LONG_TAG)
    one, two = Lease.objects.filter(request=req).order_by("pk")
    assert sim.deliver(one.phone, LONG_SMS).ok
    services.lease_numbers(member, items["1001"], key="m" * 32, tag=LONG_TAG)
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}]
    )
    sign_in(page, live_server)
    page.set_viewport_size(PHONE)
    paths = [
        "/",
        reverse("leases-detail", args=[one.pk]),
        reverse("leases-detail", args=[two.pk]),
        reverse("leases-board", args=[req.pk]),
        reverse("leases-active"),
        reverse("leases-history"),
        reverse("leases-history") + f"?q={LONG_TAG}",
        reverse("accounts-audit"),
        reverse("leases-new"),
        reverse("leases-items"),
        reverse("leases-spend"),
        reverse("accounts-tokens"),
        reverse("accounts-members", args=[account.pk]),
        reverse("leases-webhooks", args=[account.pk]),
    ]
    wide = {}
    for path in paths:
        page.goto(live_server.url + path)
        if path == paths[1]:
            expect(page.locator(".sms").first).to_be_visible(timeout=15000)
            expect(page.locator("main")).to_contain_text(LONG_TAG)
        if found := page.evaluate(WIDER):
            wide[path] = found
    assert not wide, wide


def test_a_lease_whole_live_life_has_no_console_error(
    page, live_server, personas, items, sim, poller
):
    """Lease through the form, watch the code arrive live (announced to screen readers), copy
    it, release: any console error on the way fails — a blocked inline style or script (the
    CSP), a failed request, an exception."""
    errors = record_errors(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server)
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", value=str(items["1003"].pk))
    page.click("#lease-submit")
    page.wait_for_url(re.compile(r".*/leases/\d+/$"))
    lease = Lease.objects.get()
    expect(page.locator(".waiting")).to_be_visible()
    page.wait_for_timeout(2500)  # a few polls with nothing new
    assert sim.deliver(lease.phone, "【抖音】您的验证码是 736251，5分钟内有效").ok
    expect(page.locator("#code")).to_have_text("736251", timeout=15000)
    expect(page.locator("#announcer")).to_contain_text("7 3 6 2 5 1")
    copy = page.locator("#lease [data-copy]").first
    box = copy.bounding_box()
    assert box and box["width"] >= 44 and box["height"] >= 44, box
    copy.click()
    assert page.evaluate("navigator.clipboard.readText()") == "736251"
    page.get_by_role("button", name="Release", exact=True).click()
    expect(page.locator(".state.s-released").first).to_be_visible(timeout=15000)
    page.goto(live_server.url + "/")
    expect(page.locator(".stats")).to_be_visible()
    page.wait_for_timeout(2500)  # the overview's live part redraws
    assert errors == []


def test_the_phone_menu_folds_and_every_target_is_big_enough(
    page, live_server, personas, items, sim
):
    req = services.lease_numbers(personas["member"], items["1002"], key="t" * 32, quantity=2)
    lease = Lease.objects.filter(request=req).first()
    sim.deliver(lease.phone, "【淘宝】验证码 481209，5分钟内有效。")
    errors = record_errors(page)
    sign_in(page, live_server)
    page.set_viewport_size(PHONE)
    toggle = page.locator(".menu-toggle")
    nav = page.get_by_role("navigation", name="Main")
    expect(toggle).to_be_visible()
    expect(nav).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    for path in ("/", f"/requests/{req.pk}/", f"/leases/{lease.pk}/", "/active/", "/history/",
                 "/lease/new/", "/items/", "/tokens/", "/audit/"):  # fmt: skip
        page.goto(live_server.url + path)
        page.locator(".menu-toggle").click()
        assert page.evaluate(SMALL_TARGETS) == [], path
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(nav).to_be_visible()  # wide, the menu is always there
    expect(page.locator(".menu-toggle")).to_be_hidden()
    assert LeaseRequest.objects.count() == 1 and errors == []


def test_the_keyboard_reaches_the_menu_and_the_focus_is_visible(page, live_server, personas):
    sign_in(page, live_server)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")  # the skip link first
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(".menu-toggle")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Overview")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/lease/new/")
