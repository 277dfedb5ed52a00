"""Webhook deliveries end to end: real poller path → commit hook → django-q2 task → a real
receiver that verifies the signature and de-duplicates by event id."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leases import services, signals
from leases.models import Lease, LeaseState
from leases.poller import Poller
from leases.webhooks import delivery as webhooks
from leases.webhooks.models import Webhook, WebhookDelivery

from .conftest import SECRET, django_q_sync, verify


def lease_one(personas, item, key):
    req = services.lease_numbers(personas["member"], item, key=key)
    return Lease.objects.get(request=req)


def test_it_posts_a_signed_code_received_then_ended_through_the_poller(
    personas, items, sim, fast, receiver, hook, sync_tasks, django_capture_on_commit_callbacks
):
    one = lease_one(personas, items["1001"], "wh-1")
    sim.deliver(one.phone, "【微信】验证码 604218，5分钟内有效。")
    with django_capture_on_commit_callbacks(execute=True):
        Poller(run_seconds=1.5).run()
    one.refresh_from_db()
    assert one.state == LeaseState.RELEASED
    assert [r["json"]["type"] for r in receiver.requests] == [
        "lease.code_received",
        "lease.ended",
    ]
    code, ended = receiver.requests
    for r in receiver.requests:
        h = r["headers"]
        assert r["verified"], "the signature must verify under the endpoint's secret"
        assert h["X-Zhima-Signature"].startswith("sha256=")
        assert abs(int(h["X-Zhima-Timestamp"]) - time.time()) < 60
        assert h["X-Zhima-Event-Id"] == r["json"]["id"] and r["json"]["id"].startswith("evt_")
        assert h["Content-Type"].startswith("application/json")
        assert r["path"] == "/hooks/zhima"
    data = code["json"]["data"]
    assert data["message"]["code"] == "604218" and "604218" in data["message"]["text"]
    assert data["lease"]["id"] == one.pk and data["lease"]["phone"] == one.phone
    assert data["lease"]["item"] == "1001" and data["lease"]["account"] == "Sandbox"
    assert ended["json"]["data"]["lease"]["state"] == "released"
    assert ended["json"]["data"]["lease"]["end_reason"] == "code"
    assert code["headers"]["X-Zhima-Event-Id"] != ended["headers"]["X-Zhima-Event-Id"]
    d = WebhookDelivery.objects.get(event="lease.code_received")
    assert d.state == "delivered" and d.attempts == 1
    assert [a.status_code for a in d.attempt_log.all()] == [200]


def test_a_signature_under_another_secret_does_not_verify(receiver):
    body = b'{"id":"evt_x"}'
    ts = int(time.time())
    headers = {"X-Zhima-Timestamp": str(ts), "X-Zhima-Signature": webhooks.sign(SECRET, ts, body)}
    assert verify(SECRET, headers, body)
    assert not verify("another-secret-of-some-length", headers, body)
    assert not verify(SECRET, headers, body + b" ")
    stale = {
        "X-Zhima-Timestamp": str(ts - 600),
        "X-Zhima-Signature": webhooks.sign(SECRET, ts - 600, body),
    }
    assert not verify(SECRET, stale, body)


def test_a_500_is_retried_later_with_the_same_event_id(
    personas, items, receiver, hook, sync_tasks, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    one = lease_one(personas, items["1003"], "wh-2")
    with django_capture_on_commit_callbacks(execute=True):
        services.release(personas["member"], [one])
    d = WebhookDelivery.objects.get()
    assert d.event == "lease.ended" and d.state == "pending" and d.attempts == 1
    wait = (d.next_attempt_at - timezone.now()).total_seconds()
    assert 50 < wait <= 60, "the first retry waits a minute"
    assert webhooks.retry_due() == [], "not due yet: nothing is posted again"
    assert len(receiver.requests) == 1
    # A minute passes; the every-minute schedule finds it due.
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert webhooks.retry_due() == [d.pk]
    d.refresh_from_db()
    assert d.state == "delivered" and d.attempts == 2
    assert [a.status_code for a in d.attempt_log.all()] == [500, 200]
    assert d.attempt_log.first().error == ""  # a loopback receiver: no excerpt of its answer
    first, second = receiver.requests
    assert first["headers"]["X-Zhima-Event-Id"] == second["headers"]["X-Zhima-Event-Id"]
    assert first["body"] == second["body"] and first["verified"] and second["verified"]
    assert receiver.duplicates == 0 and len(receiver.seen_ids) == 1


def test_the_backoff_grows_and_the_delivery_gives_up(account, receiver, hook, sync_tasks):
    receiver.statuses = [503] * 20
    d = WebhookDelivery.objects.create(
        webhook=hook,
        event_id="evt_1",
        event="lease.ended",
        subject="x",
        body="{}",
        next_attempt_at=timezone.now(),
    )
    waits = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver(d.pk)
        d.refresh_from_db()
        if d.next_attempt_at:
            waits.append(round((d.next_attempt_at - timezone.now()).total_seconds() / 60))
            WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert waits == [1, 3, 9, 27, 81, 243, 360]
    assert d.state == "failed" and d.attempts == webhooks.MAX_ATTEMPTS
    assert webhooks.deliver(d.pk) == "not due"
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS


def test_a_delivery_running_twice_posts_once(account, receiver, hook):
    d = WebhookDelivery.objects.create(
        webhook=hook,
        event_id="evt_2",
        event="lease.ended",
        subject="y",
        body="{}",
        next_attempt_at=timezone.now(),
    )
    assert webhooks.deliver(d.pk) == "delivered"
    assert webhooks.deliver(d.pk) == "not due"
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_logged_and_proxy_settings_are_ignored(
    account, receiver, sync_tasks, monkeypatch
):
    # A proxy in the environment must not see (or break) the delivery.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    ok, _s = webhooks.add_webhook(account, receiver.url, [], SECRET)
    gone, _s = webhooks.add_webhook(account, "http://127.0.0.1:9/nothing-listens", [], SECRET)
    for n, h in enumerate((ok, gone)):
        d = WebhookDelivery.objects.create(
            webhook=h,
            event_id=f"evt_{n}",
            event="lease.ended",
            subject="z",
            body="{}",
            next_attempt_at=timezone.now(),
        )
        webhooks.deliver(d.pk)
    assert len(receiver.requests) == 1
    failed = WebhookDelivery.objects.get(webhook=gone)
    assert failed.state == "pending"
    assert failed.attempt_log.get().error == "ConnectionError"


def test_only_the_accounts_active_subscribed_endpoints_receive(
    personas, items, receiver, sync_tasks, django_capture_on_commit_callbacks
):
    webhooks.add_webhook(personas["other"], receiver.url + "?other", [], SECRET)
    webhooks.add_webhook(
        items["1003"].account, receiver.url + "?code", ["lease.code_received"], SECRET
    )
    paused, _s = webhooks.add_webhook(items["1003"].account, receiver.url + "?paused", [], SECRET)
    Webhook.objects.filter(pk=paused.pk).update(active=False)
    webhooks.add_webhook(items["1003"].account, receiver.url + "?ended", ["lease.ended"], SECRET)
    one = lease_one(personas, items["1003"], "wh-3")
    with django_capture_on_commit_callbacks(execute=True):
        services.release(personas["member"], [one])
    assert [r["path"] for r in receiver.requests] == ["/hooks/zhima?ended"]


def test_nothing_is_announced_when_the_transaction_rolls_back(
    personas, items, receiver, hook, sync_tasks, django_capture_on_commit_callbacks
):
    one = lease_one(personas, items["1003"], "wh-4")
    Lease.objects.filter(pk=one.pk).update(state=LeaseState.RELEASED)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        signals.send_on_commit(signals.lease_ended, lease_id=one.pk, state=one.state)
        raise RuntimeError
    assert callbacks == [] and receiver.requests == []
    with django_capture_on_commit_callbacks(execute=True):
        signals.send_on_commit(signals.lease_ended, lease_id=one.pk, state="released")
        # announced twice: delivered once
        signals.send_on_commit(signals.lease_ended, lease_id=one.pk, state="released")
    assert len(receiver.requests) == 1


def test_a_blacklisted_lease_and_release_all_announce_the_end(
    personas, items, receiver, hook, sync_tasks, django_capture_on_commit_callbacks
):
    one = lease_one(personas, items["1003"], "wh-5")
    two = lease_one(personas, items["1003"], "wh-6")
    with django_capture_on_commit_callbacks(execute=True):
        services.blacklist(personas["member"], one)
    with django_capture_on_commit_callbacks(execute=True):
        services.release_all(personas["owner"], one.account)
    states = {e["data"]["lease"]["id"]: e["data"]["lease"]["state"] for e in receiver.events()}
    assert states == {one.pk: "blocked", two.pk: "released"}


def test_the_url_must_be_http_and_the_secret_is_stored_encrypted(account, caplog):
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "nohost"):
        with pytest.raises(ValidationError):
            webhooks.add_webhook(account, bad, [], SECRET)
    with pytest.raises(ValidationError):
        webhooks.add_webhook(account, "https://example.com/x", ["lease.nope"], SECRET)
    h, secret = webhooks.add_webhook(account, "https://u:pw@example.com/x", [], "")
    assert secret.startswith("whsec_") and len(secret) > 30
    row = Webhook.objects.get(pk=h.pk)
    assert secret not in row.secret_encrypted and row.get_secret() == secret
    assert row.events == ["lease.code_received", "lease.ended"]
    assert row.shown_url == "https://u:***@example.com/x"
    assert secret not in caplog.text and "pw@" not in caplog.text


def test_a_broker_failure_never_fails_the_poller_and_the_sweep_catches_up(
    personas, items, sim, fast, receiver, hook, monkeypatch, django_capture_on_commit_callbacks
):
    import django_q.tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    one = lease_one(personas, items["1003"], "wh-7")
    sim.deliver(one.phone, "您的验证码是 775533")
    with django_capture_on_commit_callbacks(execute=True):
        Poller(run_seconds=1.2).run()  # must not raise
    one.refresh_from_db()
    assert one.state == LeaseState.RECEIVED and one.code == "775533"
    d = WebhookDelivery.objects.get()
    assert d.state == "pending" and d.attempts == 0 and receiver.requests == []
    monkeypatch.undo()  # the broker is back; the every-minute retry finds the delivery due
    with django_q_sync():
        assert webhooks.retry_due() == [d.pk]
    assert [r["json"]["data"]["message"]["code"] for r in receiver.requests] == ["775533"]
