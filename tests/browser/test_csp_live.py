"""A live update never applies an inline style: the strict CSP (style-src 'self') would refuse
it with a console error. htmx carries an element's ``style`` attribute over a swap ("settle")
unless told not to — and a browser writes one itself when the tester resizes the SMS box."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from leases import services
from leases.models import Lease

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_live_update_after_the_sms_box_was_resized_applies_no_inline_style(
    page, live_server, personas, items, sim, poller
):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if m.type == "error" else None)
    req = services.lease_numbers(personas["member"], items["1005"], key="r" * 32)
    lease = Lease.objects.get(request=req)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/leases/{lease.pk}/")
    expect(page.locator(".waiting")).to_be_visible()
    # What dragging the textarea's resize handle does: the browser writes style="height: …".
    page.evaluate("document.getElementById('id_text').style.height = '120px'")
    page.fill("#id_text", "half-typed reply")
    assert sim.deliver(lease.phone, "【支付宝】验证码 604218，5分钟内有效。").ok
    expect(page.locator("#code")).to_have_text("604218", timeout=15000)
    page.wait_for_timeout(1500)  # the swap settles
    assert violations == []
    # What was being typed in the SMS box is still there after the update.
    expect(page.locator("#id_text")).to_have_value("half-typed reply")
    # Indicators stay hidden until a request runs, from the stylesheet (htmx adds none).
    hidden = page.evaluate(
        """() => { const el = document.createElement('span'); el.className = 'htmx-indicator';
        document.body.appendChild(el); return getComputedStyle(el).opacity; }"""
    )
    assert hidden == "0"
