"""Every string a member chooses is shown as text, on every page and in every command's
output: token names, lease tags, the audit actor (``member · token``), the timeline, webhook
URLs, account names. A bidirectional control character in one of them is written out as
``[U+XXXX]`` (and isolated in ``<bdi>`` on pages), never passed on raw to reorder what is read.

The crawl covers every page of the URL configuration, so a new page that shows one of these
strings is checked because it exists."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import tokens
from accounts.models import Alert, AlertKind, DeveloperAccount
from accounts.registry import client_for
from leases import services
from leases.models import Item, Lease
from leases.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

from .test_crawl import objects, url_names

CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
RLO, LRI, PDI, RLM = "\u202e", "\u2066", "\u2069", "\u200f"
TOKEN = f"nightly{RLO}ic"
TAG = f"run{LRI}42{PDI}"
ACCOUNT = f"Sandbox{RLM}"
HOOK = f"https://hooks.example/in{RLO}box"
SMS = f"hello {RLO}dlrow"


def raw_controls(text: str) -> set[str]:
    return {f"U+{ord(c):04X}" for c in text if c in CONTROLS}


@pytest.fixture
def world(personas, items, sim, account, make_user):
    """Every member-chosen string carries controls: a token's name (and so the audit actor
    and the timeline's actor), lease tags from the form's service and the API, an SMS sent,
    a webhook URL with a delivery log, the account's display name; and so do an item name
    and an upstream message (text from outside)."""
    DeveloperAccount.objects.filter(pk=account.pk).update(name=ACCOUNT)
    Item.objects.filter(pk=items["1003"].pk).update(name=f"item{RLO}3001")
    Alert.objects.create(
        account=account,
        kind=AlertKind.KEY_INVALID,
        active=True,
        params={"msg": f"no{RLO}pe"},
        raised_at=timezone.now(),
    )
    member = personas["member"]
    _row, raw = tokens.issue(member, TOKEN)
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    r = api.post(
        "/api/v1/leases",
        json.dumps({"item": "1003", "tag": TAG}),
        content_type="application/json",
        headers={"Idempotency-Key": "bidi-api-lease"},
    )
    assert r.status_code in (200, 201), r.content
    by_token = Lease.objects.get(token__name=TOKEN)
    services.send_sms(member, by_token, SMS, key="bidi-send")
    req = services.lease_numbers(member, items["1002"], key="bidi-form", tag=TAG)
    services.release(member, list(Lease.objects.filter(request=req)))
    client_for(account).verify()
    hook = Webhook(account=account, url=HOOK, events=["lease.ended"])
    hook.set_secret("bidi-secret-0123456789")
    hook.save()
    d = WebhookDelivery.objects.create(
        webhook=hook, event="lease.ended", subject="lease:1", event_id="evt_bidi", body="{}"
    )
    WebhookAttempt.objects.create(
        delivery=d, status_code=500, error=f"HTTP 500 {RLO}x", duration_ms=3
    )
    staff = make_user("staff", is_staff=True, is_superuser=True)
    return {**personas, "staff": staff, "lease": by_token}


def pages():
    for name, params in url_names():
        if name in ("logout", "set_language") or name.endswith("-csv"):
            continue
        yield name, params


def test_no_raw_bidi_control_reaches_any_page(client, world, account):
    found = objects(account)
    leaks: dict[str, set[str]] = {}
    crawled = 0
    for persona in ("owner", "member", "staff"):
        client.force_login(world[persona])
        for name, params in pages():
            url = reverse(name, args=[found[name]()]) if params else reverse(name)
            r = client.get(url, headers={"HX-Request": "true"} if name.endswith("-raw") else {})
            if r.status_code != 200 or r.streaming:
                continue
            crawled += 1
            leaked = raw_controls(r.content.decode())
            if leaked:
                leaks[f"{persona} {url}"] = leaked
    assert crawled >= 30
    assert not leaks, "\n".join(f"{page}: {sorted(cs)}" for page, cs in leaks.items())


def _page(client, user, url) -> str:
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200, url
    return r.content.decode()


def test_each_string_is_shown_marked_and_isolated(client, world, account):
    token = "<bdi>nightly[U+202E]ic</bdi>"
    actor = "<bdi>member · nightly[U+202E]ic</bdi>"
    tag = "<bdi>run[U+2066]42[U+2069]</bdi>"
    name = "<bdi>Sandbox[U+200F]</bdi>"
    member, owner = world["member"], world["owner"]
    body = _page(client, member, reverse("accounts-tokens"))
    assert token in body
    body = _page(client, member, reverse("accounts-audit"))
    assert actor in body and name in body
    body = _page(client, member, reverse("leases-detail", args=[world["lease"].pk]))
    assert token in body and tag in body and actor in body and name in body
    assert "<title>" in body and f"{RLM}" not in body.split("</title>")[0]
    body = _page(client, member, reverse("leases-history"))
    assert tag in body and token in body and name in body
    body = _page(client, owner, reverse("leases-webhooks", args=[account.pk]))
    assert "<bdi>https://hooks.example/in[U+202E]box</bdi>" in body
    body = _page(client, owner, reverse("accounts-members", args=[account.pk]))
    assert name in body
    body = _page(client, member, reverse("leases-overview"))
    assert name in body
    body = _page(client, owner, reverse("ops-status"))
    assert name in body and "<bdi>The upstream said: no[U+202E]pe</bdi>" in body


def _command(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_the_commands_print_the_controls_written_out(world, account, sim, settings):
    out = _command("api_token", "list", "member")
    assert "nightly[U+202E]ic" in out and not raw_controls(out)
    out = _command("webhook", "list")
    assert "https://hooks.example/in[U+202E]box" in out and "Sandbox[U+200F]" in out
    assert not raw_controls(out)
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    out = _command("webhook", "add", ACCOUNT, f"http://127.0.0.1:9/x{LRI}y")
    assert "http://127.0.0.1:9/x[U+2066]y" in out and not raw_controls(out)
    out = _command("api_token", "create", "member", "--name", f"second{RLO}")
    assert not raw_controls(out)


def test_the_zhima_command_prints_the_controls_written_out(sim):
    head = ["zhima", "--base-url", sim.base_url, "--account", "demo", "--pkey", "demo-pkey"]
    (phone,) = json.loads(_command(*head, "--json", "get", "1004"))["phoneNos"]
    sim.deliver(phone, f"code 4812 {RLO}0921 si edoc")
    out = _command(*head, "sms", "1004", phone)
    assert "code 4812 [U+202E]0921 si edoc" in out and not raw_controls(out)
    out = _command(*head, "--json", "sms", "1004", phone)
    assert not raw_controls(out)
    assert json.loads(out)["sm"] == f"code 4812 {RLO}0921 si edoc"  # the data is unchanged
