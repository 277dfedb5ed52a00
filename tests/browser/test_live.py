"""Live where the user is, in real Chromium: every code of a request on its board and still there
after the numbers are released; a hidden tab that still alerts; pages that fit a phone."""

import re
import time

import pytest
from playwright.sync_api import expect

from leases import services
from leases.models import Lease, LeaseRequest, LeaseState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODES = ["481209", "736251", "928137"]

# Browser APIs a headless test cannot observe are recorded instead: desktop notifications (and
# the permission prompt) and the start of each beep's oscillator.
RECORD_ALERTS = """
window.__alerts = { notes: [], asked: 0, beeps: 0 };
class RecordedNotification {
  constructor(title, options) { window.__alerts.notes.push([title, (options || {}).body]); }
  close() {}
}
RecordedNotification.permission = "default";
RecordedNotification.requestPermission = function () {
  window.__alerts.asked += 1;
  RecordedNotification.permission = "granted";
  return Promise.resolve("granted");
};
window.Notification = RecordedNotification;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function () {
  window.__alerts.beeps += 1;
  return start.apply(this, arguments);
};
"""

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""

FITS = """() => {
  const w = window.innerWidth;
  const out = [];
  const page = document.scrollingElement.scrollWidth;
  if (page > w) out.push("page " + page);
  document.querySelectorAll(".table-wrap").forEach(function (t) {
    if (t.scrollWidth > t.clientWidth) out.push("table " + t.scrollWidth + ">" + t.clientWidth);
  });
  const musts = ".c-num .num, .c-state .state, .c-code [data-code], .c-code .copy";
  document.querySelectorAll(musts).forEach(function (el) {
    const r = el.getBoundingClientRect();
    if (r.left < 0 || r.right > w) out.push(el.className + " " + el.textContent + " " + r.right);
  });
  return out;
}"""


@pytest.fixture(autouse=True)
def _every_sms_arrives(sim):
    """The simulator loses a few SMS at random; here every number must get its code."""
    sim.config(sms_lost_rate=0, sms_timeout_rate=0)


def sign_in(page, live_server, lang="en"):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    if lang != "en":
        page.select_option("#lang-select", lang)
        page.wait_for_load_state()


def wait_for(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_every_code_of_a_request_stays_on_its_board(
    page, live_server, personas, items, sim, poller, shot
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server)
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", value=str(items["1002"].pk))
    page.fill("input[name=quantity]", "3")
    page.click("#lease-submit")
    page.wait_for_url(re.compile(r".*/requests/\d+/$"))
    req = LeaseRequest.objects.get()
    leases = list(Lease.objects.filter(request=req).order_by("id"))
    assert len(leases) == 3
    expect(page.locator("#board .pending")).to_have_count(3)

    for lease, code in zip(leases, CODES, strict=True):
        assert sim.deliver(lease.phone, f"【淘宝】验证码 {code}，5分钟内有效。").ok
    expect(page.locator("#board [data-code]")).to_have_count(3, timeout=15000)
    wait_for(lambda: not Lease.objects.filter(request=req).exclude(state="released").exists())
    last_code = time.monotonic()
    assert sim.leases() == []  # every number was released automatically
    expect(page.locator("#board .state.s-released")).to_have_count(3, timeout=5000)
    expect(page.locator("#board")).not_to_have_attribute("data-poll", "1000")
    shot(page, "board-released")

    page.locator(f"#copy-code-{leases[1].pk}").click()
    assert page.evaluate("navigator.clipboard.readText()") == CODES[1]
    page.locator(f"#copy-num-{leases[2].pk}").click()
    assert page.evaluate("navigator.clipboard.readText()") == leases[2].phone

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(FITS) == []
    shot(page, "board-390")
    page.wait_for_timeout(max(0, 15 - (time.monotonic() - last_code)) * 1000)
    for code in CODES:
        expect(page.locator(f"#board [data-code='{code}']")).to_be_visible()
    page.reload()
    expect(page.locator("#board [data-code]")).to_have_count(3)

    page.get_by_role("button", name=f"Dismiss {leases[0].phone}").click()
    expect(page.locator("#board [data-code]")).to_have_count(2)
    page.reload()
    expect(page.locator("#board [data-code]")).to_have_count(2)
    assert LeaseRequest.objects.count() == 1  # nothing was leased again


def test_a_hidden_tab_puts_the_code_in_its_title_within_one_poll(
    page, live_server, personas, items, sim, poller
):
    page.add_init_script(RECORD_ALERTS)
    sign_in(page, live_server)
    req = services.lease_numbers(personas["member"], items["1003"], key="h" * 32)
    lease = Lease.objects.get(request=req)
    page.goto(live_server.url + f"/requests/{req.pk}/")
    title = page.title()
    assert page.evaluate("window.__alerts.asked") == 0
    page.get_by_role("button", name=re.compile("Alert me when a code arrives")).click()
    assert page.evaluate("window.__alerts.asked") == 1  # asked on the click, not before
    assert page.evaluate("localStorage.getItem('zhima-notify')") == "1"

    polls = []
    page.on("request", lambda r: polls.append((time.monotonic(), r.url)) if "v=" in r.url else None)
    page.evaluate(HIDE)
    page.wait_for_timeout(6500)
    # Hidden, the page polls at the upstream's cadence: not once a second, and not never.
    assert 1 <= len(polls) <= 2, polls
    beeps = page.evaluate("window.__alerts.beeps")

    assert sim.deliver(lease.phone, "【抖音】您的验证码是 551234，5分钟内有效").ok
    wait_for(lambda: Lease.objects.filter(pk=lease.pk, code="551234").exists())
    expect(page).to_have_title(re.compile(r"^551234 — "), timeout=5500)
    assert page.title().endswith(title)
    alerts = page.evaluate("window.__alerts")
    assert alerts["notes"] and alerts["notes"][0][0] == "551234"
    assert alerts["beeps"] > beeps
    page.reload()  # the opt-in is remembered by this browser, and not asked again
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.__alerts.asked") == 0
    Lease.objects.filter(pk=lease.pk).update(state=LeaseState.RELEASED)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_active_board_and_history_fit_a_phone(
    page, live_server, personas, items, sim, poller, shot, lang
):
    req = services.lease_numbers(personas["member"], items["1002"], key="p" * 32, quantity=3)
    services.lease_numbers(personas["member"], items["1004"], key="q" * 32)
    leases = list(Lease.objects.filter(request=req).order_by("id"))
    for lease, code in zip(leases[:2], CODES, strict=False):
        assert sim.deliver(lease.phone, f"【淘宝】验证码 {code}，5分钟内有效。").ok
    wait_for(lambda: Lease.objects.filter(request=req, state="released").count() == 2)
    sign_in(page, live_server, lang)
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in (
        ("active", "/active/"),
        ("board", f"/requests/{req.pk}/"),
        ("history", "/history/"),
    ):
        page.goto(live_server.url + path)
        expect(page.locator("[data-code]").first).to_be_visible()
        shot(page, f"{name}-390-{lang}")
        assert page.evaluate(FITS) == [], name
        expect(page.locator(".c-num .num").first).to_be_in_viewport()
    page.goto(live_server.url + "/active/")
    # Held numbers first, then the codes of the last 10 minutes (released, not selectable).
    expect(page.locator("#active-rows tr.finished [data-code]")).to_have_count(2)
    expect(page.locator("#active-rows input[type=checkbox]")).to_have_count(2)


def test_the_alert_opt_in_goes_when_nothing_on_the_page_is_live(
    page, live_server, personas, items, sim, poller
):
    """The lease page offers the alert while the number waits; once it has ended (here released
    with its code), live, the offer goes and "lease another like this" comes."""
    sign_in(page, live_server)
    req = services.lease_numbers(personas["member"], items["1001"], key="o" * 32)
    lease = Lease.objects.get(request=req)
    page.goto(live_server.url + f"/leases/{lease.pk}/")
    expect(page.locator("#notify-toggle")).to_be_visible()
    assert sim.deliver(lease.phone, "【微信】您的验证码是 604218，5分钟内有效").ok
    expect(page.locator("#code")).to_have_text("604218", timeout=15000)
    expect(page.locator(".state.s-released").first).to_be_visible(timeout=15000)
    expect(page.locator("#notify-toggle")).to_be_hidden()
    expect(page.get_by_role("link", name="Lease another like this")).to_be_visible()
    page.reload()  # a finished page never offers it
    expect(page.locator("#code")).to_have_text("604218")
    expect(page.locator("#notify-toggle")).to_have_count(0)
