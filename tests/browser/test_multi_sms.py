"""A multi-SMS item (type 5) in a real browser — the second code appears live on
the lease page after "keep waiting", and the repeated first SMS does not bring the old one
back."""

import re

import pytest
from playwright.sync_api import expect

from leases.models import Lease, LeaseState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_second_code_of_a_type_5_lease_appears_live(
    page, live_server, personas, items, sim, poller, shot
):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", "pw-member")
    page.click("main button[type=submit]")
    page.goto(live_server.url + "/lease/new/")
    page.select_option("select[name=item]", label="Sandbox · 1005 支付宝收发（类型5）")
    page.click("#lease-submit")
    page.wait_for_url(re.compile(r".*/leases/\d+/$"))
    lease = Lease.objects.order_by("-pk").first()

    sim.deliver(lease.phone, "【支付宝】校验码 481209，请勿泄露")
    expect(page.locator("#code")).to_have_text("481209", timeout=15000)
    page.get_by_role("button", name="Keep waiting for another SMS").click()
    expect(page.locator("h1 .state")).to_have_class(re.compile("s-waiting"))
    # The upstream answers the first SMS on every poll meanwhile: the lease keeps waiting.
    page.wait_for_timeout(2500)
    expect(page.locator("h1 .state")).to_have_class(re.compile("s-waiting"))
    assert Lease.objects.get(pk=lease.pk).state == LeaseState.WAITING

    sim.deliver(lease.phone, "【支付宝】校验码 928137，请勿泄露")
    expect(page.locator("#code")).to_have_text("928137", timeout=15000)
    expect(page.locator("h1 .state")).to_have_class(re.compile("s-received"))
    expect(page.locator("blockquote.sms")).to_have_count(2)
    expect(page.locator(".timeline")).to_contain_text("928137")
    shot(page, "lease-second-code")
