"""Accessibility as a failing test: axe-core in real Chromium over every page of the URL
configuration, in English and Chinese, signed in and signed out. Any violation, of any impact,
fails like a 500 would.

The pages are the crawl's (tests/hardening/test_crawl.py): a new URL is checked because it is in
the URL configuration. axe-core comes from npm (tests/browser/package.json and its lock;
``.ci/test`` runs ``npm ci`` there once per lock).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from accounts import tokens
from accounts.audit import CallContext
from accounts.registry import client_for
from leases import services
from leases.models import Lease
from leases.webhooks import delivery as webhooks

from ..hardening.test_crawl import objects, url_names
from .conftest import AXE, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Actions that end the session or switch the language (a GET of them is not a page).
NOT_PAGES = ("logout", "set_language")
# Admin pages: the console's branded admin, checked as the rest.
ADMIN = ["admin:index", "admin:login", "admin:accounts_developeraccount_changelist"]

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " — " + n.failureSummary),
  }));
}"""


@pytest.fixture
def world(personas, items, sim, account):
    """Leases in every state the pages show, a code, an audit log, a token, a webhook."""
    owner, member = personas["owner"], personas["member"]
    owner.is_staff = owner.is_superuser = True
    owner.save()
    services.lease_numbers(member, items["1003"], key="a" * 32)
    req = services.lease_numbers(member, items["1002"], key="b" * 32, quantity=2)
    leases = list(Lease.objects.filter(request=req))
    sim.deliver(leases[0].phone, "【测试】您的验证码是 481209，5分钟内有效。")
    services.release(member, [leases[1]])
    client_for(account).verify(context=CallContext.for_user(owner))
    tokens.issue(owner, "ci")
    webhooks.add_webhook(account, "http://127.0.0.1:9/hook", ["lease.ended"])
    return personas


def pages(client, world, account) -> list[str]:
    """Every URL that answers a GET with a whole HTML document (as the owner, who may see them
    all): the POST-only actions answer 405, and fragments (item info, raw audit bodies) are
    checked inside the page that shows them."""
    found = objects(account)
    client.force_login(world["owner"])
    urls = []
    for name, params in url_names():
        if name in NOT_PAGES:
            continue
        url = reverse(name, args=[found[name]()]) if params else reverse(name)
        r = client.get(url)
        if r.status_code == 200 and not r.streaming and b"<html" in r.content[:200]:
            urls.append(url)
    client.logout()
    return urls + [reverse(n) for n in ADMIN]


def violations(page, url: str) -> list[dict]:
    """axe's violations on ``url``: evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the page's own policy stays as it is."""
    response = page.goto(url)
    assert response is not None and response.status < 500, (url, response and response.status)
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
def test_every_page_has_no_axe_violation(
    page, client, live_server, world, account, lang, signed_in
):
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}]
    )
    if signed_in:
        sign_in(page, live_server, "owner")
    found, seen = {}, set()
    for path in pages(client, world, account):
        page_violations = violations(page, live_server.url + path)
        where = page.url.removeprefix(live_server.url)
        if where in seen:  # signed out, most pages are the sign-in page
            continue
        seen.add(where)
        if page_violations:
            found[path] = page_violations
    assert len(seen) >= (20 if signed_in else 2), seen
    report = "\n".join(
        f"{path}: {v['id']} ({v['impact']}) {v['help']}\n    " + "\n    ".join(v["nodes"])
        for path, vs in found.items()
        for v in vs
    )
    assert not found, f"axe-core violations ({lang}):\n{report}"
