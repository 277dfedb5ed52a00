"""What the delivery log keeps of a receiver's failed answer: its status, and at most a short,
escaped excerpt of the body, none at all from an address webhooks reach only because
``ZHIMA_WEBHOOK_PRIVATE_NETWORKS`` lets them (the console must not read out, to the members
who register URLs, what only its own network serves)."""

from __future__ import annotations

from django.urls import reverse

from leases.webhooks import delivery as webhooks
from leases.webhooks.models import WebhookAttempt, WebhookDelivery

# A page an internal service would serve: markup, a terminal escape, a bidi override and more
# than any log line should hold.
INTERNAL = (
    b"<html><script>alert(1)</script>\x1b[31mdb-password=hunter2 \xe2\x80\xae"
    + b"internal admin console " * 40
)


def _failed_attempt(account, receiver, hook) -> WebhookAttempt:
    receiver.statuses = [500]
    receiver.reply = INTERNAL
    d = WebhookDelivery.objects.create(
        webhook=hook, event_id="evt_r1", event="lease.ended", subject="lease:1", body="{}"
    )
    WebhookDelivery.objects.filter(pk=d.pk).update(next_attempt_at=d.created_at)
    assert webhooks.deliver(d.pk) == "pending"
    assert receiver.requests, "the receiver was posted to"
    return d.attempt_log.get()


def test_no_excerpt_from_an_address_allowed_only_by_the_private_networks_setting(
    as_, account, receiver, hook
):
    attempt = _failed_attempt(account, receiver, hook)  # the receiver listens on 127.0.0.1
    assert attempt.status_code == 500 and attempt.error == ""
    html = as_("owner").get(reverse("leases-webhooks", args=[account.pk])).content.decode()
    assert "HTTP 500" in html
    assert "hunter2" not in html and "internal admin console" not in html


def test_a_public_receivers_excerpt_is_short_and_escaped(as_, account, receiver, hook, monkeypatch):
    # Tests reach only loopback receivers: the address the answer came from is read as a
    # public one (the receiver itself is real).
    monkeypatch.setattr(webhooks, "_peer_address", lambda response: "93.184.216.34")
    attempt = _failed_attempt(account, receiver, hook)
    assert attempt.status_code == 500
    assert 0 < len(attempt.error) <= webhooks.REPLY_EXCERPT + 1
    assert attempt.error.startswith("<html><script>alert(1)</script>")
    assert all(c.isprintable() for c in attempt.error), "control and bidi characters escaped"
    assert "\\x1b" in attempt.error
    html = as_("owner").get(reverse("leases-webhooks", args=[account.pk])).content.decode()
    assert "&lt;script&gt;alert(1)" in html and "<script>alert(1)" not in html
    assert "internal admin console internal admin console internal" not in html
