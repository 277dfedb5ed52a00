"""The webhook totals /metrics exposes for the shipped alert rules
(deploy/prometheus/alerts.yml): each POST by result, each delivery by how it ended."""

from django.utils import timezone

from leases.webhooks import delivery as webhooks
from leases.webhooks.models import WebhookDelivery
from tests.ops.test_health import _samples


def test_webhook_attempts_and_deliveries_by_result(client, settings, receiver, hook):
    def delivery(n):
        return WebhookDelivery.objects.create(
            webhook=hook,
            event_id=f"evt_{n}",
            event="lease.ended",
            subject=f"lease:{n}",
            body="{}",
            next_attempt_at=timezone.now(),
        )

    receiver.statuses = [500, 200]
    first = delivery(1)
    assert webhooks.deliver(first.pk) == "pending"  # a 500: tried again later
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    assert webhooks.deliver(first.pk) == "delivered"
    last = delivery(2)
    WebhookDelivery.objects.filter(pk=last.pk).update(attempts=webhooks.MAX_ATTEMPTS - 1)
    receiver.statuses = [503]
    assert webhooks.deliver(last.pk) == "failed"  # its last attempt
    settings.METRICS_TOKEN = "alert-rules-token"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer alert-rules-token"
    samples = _samples(client)
    assert samples[("zhima_webhook_attempts_total", (("result", "ok"),))] == 1
    assert samples[("zhima_webhook_attempts_total", (("result", "failed"),))] == 2
    assert samples[("zhima_webhook_deliveries_total", (("state", "delivered"),))] == 1
    assert samples[("zhima_webhook_deliveries_total", (("state", "failed"),))] == 1
