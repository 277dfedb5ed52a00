"""Webhooks reach public addresses only, unless ZHIMA_WEBHOOK_PRIVATE_NETWORKS allows more:
refused at registration (page, command, service) and again before every POST."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from leases import services
from leases.models import Lease
from leases.webhooks import delivery as webhooks
from leases.webhooks.models import Webhook, WebhookDelivery

from .conftest import SECRET


@pytest.fixture
def public_only(settings):
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = []
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/h",
        "http://localhost:9/h",
        "http://[::1]:9/h",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://10.1.2.3/h",
        "http://192.168.0.10/h",
        "http://0.0.0.0/h",
        "http://[::ffff:127.0.0.1]/h",
    ],
)
def test_a_non_public_address_is_refused_at_registration(account, public_only, url):
    with pytest.raises(ValidationError, match="ZHIMA_WEBHOOK_PRIVATE_NETWORKS"):
        webhooks.add_webhook(account, url, [], SECRET)
    assert not Webhook.objects.exists()


def test_a_public_address_and_an_allowed_network_are_accepted(account, public_only):
    webhooks.add_webhook(account, "https://93.184.216.34/h", [], SECRET)
    public_only.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = ["10.0.0.0/8"]
    webhooks.add_webhook(account, "http://10.1.2.3/h", [], SECRET)
    with pytest.raises(ValidationError):
        webhooks.add_webhook(account, "http://192.168.0.10/h", [], SECRET)
    assert Webhook.objects.count() == 2


def test_the_page_and_the_command_say_why_and_save_nothing(as_, account, public_only):
    r = as_("owner").post(
        reverse("leases-webhooks", args=[account.pk]),
        {"url": "http://127.0.0.1:8000/admin/", "events": ["lease.ended"]},
    )
    assert r.status_code == 400 and "ZHIMA_WEBHOOK_PRIVATE_NETWORKS" in r.content.decode()
    with pytest.raises(CommandError, match="loopback, private or reserved"):
        call_command("webhook", "add", account.name, "http://127.0.0.1:8000/", stdout=StringIO())
    assert not Webhook.objects.exists()


def test_a_delivery_to_an_address_no_longer_allowed_is_not_posted(
    personas, items, account, receiver, hook, settings, django_capture_on_commit_callbacks
):
    """Registered while loopback was allowed (or a name that resolved elsewhere then): the
    check before the POST refuses it, logs the attempt and retries later."""
    req = services.lease_numbers(personas["member"], items["1003"], key="ssrf")
    with django_capture_on_commit_callbacks(execute=True):
        services.release(personas["member"], [Lease.objects.get(request=req)])
    d = WebhookDelivery.objects.get()
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = []
    assert webhooks.deliver(d.pk) == "pending"
    assert receiver.requests == []
    (attempt,) = d.attempt_log.all()
    assert attempt.status_code is None and "127.0.0.1 is not a public address" in attempt.error
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.1"]
    WebhookDelivery.objects.update(next_attempt_at=d.created_at)
    assert webhooks.deliver(d.pk) == "delivered" and len(receiver.requests) == 1


def test_a_name_that_resolves_elsewhere_at_connection_time_is_refused_there(
    personas,
    items,
    account,
    receiver,
    hook,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """DNS rebinding: the name looked public when checked, and the connection went to
    loopback. The connection checks its peer before sending a byte."""
    from leases.webhooks import guard as webhook_guard

    with django_capture_on_commit_callbacks(execute=True):
        req = services.lease_numbers(personas["member"], items["1003"], key="rebind")
        services.release(personas["member"], [Lease.objects.get(request=req)])
    d = WebhookDelivery.objects.get()
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = []
    monkeypatch.setattr(webhooks, "refused_address", lambda url: "")  # "it was public then"
    assert webhooks.deliver(d.pk) == "pending"
    assert receiver.requests == []
    (attempt,) = d.attempt_log.all()
    assert attempt.error == f"refused: 127.0.0.1 {webhook_guard.REFUSED}"
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    WebhookDelivery.objects.update(next_attempt_at=d.created_at)
    assert webhooks.deliver(d.pk) == "delivered" and len(receiver.requests) == 1
