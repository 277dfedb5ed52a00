"""The webhooks page: managers of the account only; the secret is shown once; the log."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from leases.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

from .conftest import SECRET


def page(account):
    return reverse("leases-webhooks", args=[account.pk])


def test_it_requires_login(client, account):
    r = client.get(page(account))
    assert r.status_code == 302 and r["Location"].startswith("/login/")


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("member", 403), ("outsider", 404)])
def test_viewers_operators_and_outsiders_can_neither_see_nor_add(as_, account, who, status):
    webhooks_before = Webhook.objects.count()
    c = as_(who)
    assert c.get(page(account)).status_code == status
    r = c.post(page(account), {"url": "https://example.com/h", "events": ["lease.ended"]})
    assert r.status_code == status
    assert Webhook.objects.count() == webhooks_before


def test_a_manager_adds_one_and_sees_the_generated_secret_once(as_, account):
    c = as_("owner")
    r = c.post(
        page(account),
        {"url": "https://ci.example.com/zhima", "events": ["lease.code_received", "lease.ended"]},
    )
    assert r.status_code == 201
    hook = Webhook.objects.get()
    secret = hook.get_secret()
    assert secret.startswith("whsec_") and secret in r.content.decode()
    assert hook.events == ["lease.code_received", "lease.ended"] and hook.account == account
    again = c.get(page(account)).content.decode()
    assert "https://ci.example.com/zhima" in again and secret not in again


def test_the_answer_that_shows_a_new_secret_is_never_stored_by_a_cache(as_, account):
    """Like the tokens page: no browser history, back button or proxy keeps the secret."""
    c = as_("owner")
    r = c.post(page(account), {"url": "https://ci.example.com/zhima", "events": ["lease.ended"]})
    assert r.status_code == 201 and Webhook.objects.get().get_secret() in r.content.decode()
    assert "no-store" in r["Cache-Control"] and "private" in r["Cache-Control"]


def test_a_given_secret_is_never_shown_and_bad_input_is_a_form_error(as_, account):
    c = as_("owner")
    r = c.post(
        page(account), {"url": "https://a.example/h", "events": ["lease.ended"], "secret": SECRET}
    )
    assert r.status_code == 201 and SECRET not in r.content.decode()
    assert Webhook.objects.get().get_secret() == SECRET
    for bad in (
        {"url": "ftp://a.example/h", "events": ["lease.ended"]},
        {"url": "https://a.example/h", "events": ["lease.nope"]},
        {"url": "https://a.example/h", "events": ["lease.ended"], "secret": "short"},
        {"url": "", "events": ["lease.ended"]},
    ):
        assert c.post(page(account), bad).status_code == 400
    assert Webhook.objects.count() == 1


@pytest.fixture
def logged(account):
    """A webhook (its URL with a password) and a failed delivery with two attempts."""
    hook = Webhook(
        account=account, url="https://u:topsecret@hooks.example/x", events=["lease.ended"]
    )
    hook.set_secret(SECRET)
    hook.save()
    d = WebhookDelivery.objects.create(
        webhook=hook,
        event_id="evt_abc123",
        event="lease.ended",
        subject="lease:1",
        body="{}",
        state="failed",
        attempts=2,
    )
    WebhookAttempt.objects.create(delivery=d, status_code=500, error="boom", at=timezone.now())
    WebhookAttempt.objects.create(delivery=d, status_code=None, error="ConnectTimeout")
    return hook, d


def test_the_log_shows_each_attempt_and_no_secret(as_, account, logged):
    html = as_("owner").get(page(account)).content.decode()
    assert "evt_abc123" in html and "HTTP 500" in html and "ConnectTimeout" in html
    assert "topsecret" not in html and SECRET not in html and "u:***@hooks.example" in html


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404)])
def test_others_cannot_act_on_a_webhook(as_, logged, who, status):
    hook, d = logged
    x = as_(who)
    for name in ("leases-webhook-toggle", "leases-webhook-remove"):
        assert x.post(reverse(name, args=[hook.pk])).status_code == status
    assert x.post(reverse("leases-webhook-redeliver", args=[d.pk])).status_code == status
    assert Webhook.objects.get(pk=hook.pk).active


def test_the_wrong_method_and_a_bad_id_are_refused(as_, logged):
    hook, _d = logged
    c = as_("owner")
    assert c.get(reverse("leases-webhook-toggle", args=[hook.pk])).status_code == 405
    assert c.put(reverse("leases-webhook-remove", args=[hook.pk])).status_code == 405
    bad = reverse("leases-webhook-remove", args=[1]).replace("/1/", "/nope/")
    assert c.post(bad).status_code == 404
    assert Webhook.objects.filter(pk=hook.pk).exists()


def test_a_manager_pauses_a_webhook(as_, logged):
    hook, _d = logged
    assert as_("owner").post(reverse("leases-webhook-toggle", args=[hook.pk])).status_code == 302
    assert not Webhook.objects.get(pk=hook.pk).active


def test_a_manager_sends_a_failed_delivery_again(as_, logged):
    _hook, d = logged
    as_("owner").post(reverse("leases-webhook-redeliver", args=[d.pk]))
    d.refresh_from_db()
    assert d.state == "pending" and d.attempts == 0


def test_a_manager_removes_a_webhook(as_, logged):
    hook, _d = logged
    assert as_("owner").post(reverse("leases-webhook-remove", args=[hook.pk])).status_code == 302
    assert not Webhook.objects.filter(pk=hook.pk).exists()


def test_the_active_page_links_managers_to_it(as_, account):
    assert page(account) in as_("owner").get(reverse("leases-active")).content.decode()
    assert page(account) not in as_("member").get(reverse("leases-active")).content.decode()
