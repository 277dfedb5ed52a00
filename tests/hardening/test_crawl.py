"""A crawl generated from the URL configuration: every URL, with good and bad ids and
parameters, as the owner, a member and an outsider — no 5xx anywhere, and the outsider gets
404 on every object URL of another account. A new URL with a parameter must be added to
``OBJECTS`` below, or this test fails: nothing escapes the crawl by being new."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import tokens
from accounts.models import ApiCall, ApiToken, Membership
from accounts.registry import client_for
from leases import services
from leases.models import Item, Lease, LeaseRequest

pytestmark = pytest.mark.backend

BAD_IDS = ["0", "999999999", "abc", "-1", "1.5", "%00", "9" * 40, "1;DROP TABLE x"]
BAD_QUERY = (
    "?cursor=garbage&since=2026-13-45&until=x&account=999&item=%27&member=%00"
    "&state=zzz&q=%25&v=x&days=-5&endpoint=nope&outcome=nope&phone=abc"
)
# The API answers tokens, not sessions: tests/api/test_crawl.py crawls it with tokens.
SKIP_PREFIXES = ("admin:", "django_q", "api:")


def objects(account):
    """For each URL name with an id: how to find an object of ``account``."""
    return {
        "leases-detail": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-release": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-blacklist": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-send": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-send-status": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-keep-waiting": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-release-all": lambda: account.pk,
        "leases-webhooks": lambda: account.pk,
        "leases-webhook-toggle": lambda: webhook_delivery(account).webhook_id,
        "leases-webhook-remove": lambda: webhook_delivery(account).webhook_id,
        "leases-webhook-test": lambda: webhook_delivery(account).webhook_id,
        "leases-webhook-redeliver": lambda: webhook_delivery(account).pk,
        "leases-item-refresh": lambda: Item.objects.filter(account=account).first().pk,
        "leases-dismiss": lambda: Lease.objects.filter(account=account).first().pk,
        "leases-board": lambda: LeaseRequest.objects.filter(account=account).first().pk,
        "leases-board-release": lambda: LeaseRequest.objects.filter(account=account).first().pk,
        "accounts-audit-raw": lambda: ApiCall.objects.filter(account=account).first().pk,
        "leases-item-retire": lambda: Item.objects.filter(account=account).first().pk,
        "accounts-quota-refresh": lambda: account.pk,
        "accounts-members": lambda: account.pk,
        "accounts-member-update": lambda: Membership.objects.filter(account=account).first().pk,
        "accounts-member-remove": lambda: Membership.objects.filter(account=account).first().pk,
        "accounts-token-revoke": lambda: (
            ApiToken.objects.filter(user__memberships__account=account).first().pk
        ),
    }


def url_names():
    names = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{p.namespace}:" if p.namespace else prefix
                walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern) and p.name:
                names.append((prefix + p.name, list(p.pattern.converters)))

    walk(get_resolver().url_patterns)
    names = [(n, c) for n, c in names if not n.startswith(SKIP_PREFIXES)]
    return sorted(names, key=lambda nc: nc[0] == "logout")  # signing out comes last


@pytest.fixture
def world(personas, items, sim, account):
    services.lease_numbers(personas["member"], items["1003"], key="c" * 32)
    client_for(account).verify()
    tokens.issue(personas["member"], "crawl")
    return personas


def test_every_url_answers_without_a_server_error(client, world, account):
    names = url_names()
    assert len(names) >= 25
    found = objects(account)
    crawled, statuses = 0, {}
    for persona in ("owner", "member", "outsider"):
        client.force_login(world[persona])
        for name, params in names:
            if params:
                assert name in found, f"add {name} to OBJECTS in this test"
                ids = [str(found[name]()), *BAD_IDS]
                # <int:pk> reverses only whole numbers: splice the bad ones in by hand
                urls = [reverse(name, args=[1]).replace("/1/", f"/{i}/") for i in ids]
            else:
                urls = [reverse(name)]
            for url in urls:
                for method in (client.get, client.post):
                    for suffix in ("", BAD_QUERY):
                        r = method(
                            url + suffix,
                            {"text": "x", "lease": ["1", "x"]} if method == client.post else None,
                        )
                        crawled += 1
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        # /readyz answers 503 by design while no poller runs in this test.
                        allowed = r.status_code < 500 or (name == "readyz" and r.status_code == 503)
                        assert allowed, (persona, url + suffix, r.status_code)
    assert crawled > 500
    # The personas stayed signed in: bad ids are 404, not redirects to the sign-in page.
    assert statuses.get(404, 0) > 300 and statuses.get(302, 0) < 100
    print(f"crawled {crawled} requests over {len(names)} URLs × 3 personas: {statuses}")


def test_the_outsider_gets_404_on_every_object_url(client, world, account):
    client.force_login(world["outsider"])
    found = objects(account)
    for name, params in url_names():
        if not params:
            continue
        url = reverse(name, args=[found[name]()])
        for method in (client.get, client.post):
            r = method(url)
            assert r.status_code in (404, 405), (name, r.status_code)
        assert 404 in (client.get(url).status_code, client.post(url).status_code), name


# -- the calendar's ends and ids of any size ---------------------------------------------------

HUGE_IDS = ["99999999999999999999", "9223372036854775808", "9" * 80]
EXTREME_DATES = [
    "since=0001-01-01",
    "until=9999-12-31",
    "since=0001-01-01&until=9999-12-31",
    "since=9999-12-31",
    "until=0001-01-01",
]
LISTS = ["leases-history", "leases-history-csv", "accounts-audit", "accounts-audit-csv"]


def test_dates_at_the_calendars_ends_are_a_form_error_or_400(client, world):
    client.force_login(world["member"])
    for name in LISTS:
        for query in EXTREME_DATES:
            r = client.get(f"{reverse(name)}?{query}")
            assert r.status_code < 500, (name, query, r.status_code)
            if name.endswith("-csv"):
                # refused before streaming, not a 200 with only a header
                assert r.status_code == 400, (name, query, r.status_code)
                assert b"between" in r.content
            else:
                assert r.status_code == 200 and "between" in r.content.decode(), (name, query)


def test_ids_of_any_size_are_404(client, world):
    client.force_login(world["owner"])
    found = objects(world["owner"].memberships.first().account)
    for name in found:
        for huge in HUGE_IDS:
            url = reverse(name, args=[huge])
            for method in (client.get, client.post):
                r = method(url)
                assert r.status_code in (404, 405), (url, r.status_code)
    for name in [*LISTS, "leases-active", "leases-overview", "leases-new", "leases-item-info"]:
        for huge in HUGE_IDS:
            query = f"?account={huge}&cursor={huge}.{huge}&item={huge}&lease={huge}"
            r = client.get(reverse(name) + query)
            assert r.status_code < 500, (name, query, r.status_code)
    r = client.post(reverse("leases-release-selected"), {"lease": HUGE_IDS})
    assert r.status_code < 500
    r = client.post(reverse("leases-new"), {"item": HUGE_IDS[0], "quantity": "1"})
    assert r.status_code < 500


def webhook_delivery(account):
    """A webhook of ``account`` with one failed delivery (made again if the crawl removed it)."""
    from leases.webhooks.models import Webhook, WebhookDelivery

    hook = Webhook.objects.filter(account=account).first()
    if hook is None:
        hook = Webhook(account=account, url="https://hooks.example/x", events=["lease.ended"])
        hook.set_secret("crawl-secret-0123456789")
        hook.save()
    d, _ = WebhookDelivery.objects.get_or_create(
        webhook=hook,
        event="lease.ended",
        subject="lease:1",
        defaults={"event_id": "evt_crawl", "body": "{}", "state": "failed"},
    )
    return d
