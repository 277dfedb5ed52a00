"""django-q2 entry points of the webhooks, and their schedule (declared with the others by
``leases.tasks.ensure_schedules``)."""

from __future__ import annotations


def deliver_webhook(delivery_id: int) -> str:
    """One POST of one webhook delivery, when it is due."""
    from . import delivery

    return delivery.deliver(delivery_id)


def retry_webhooks() -> list[int]:
    """Every minute: enqueue the webhook deliveries due for a retry."""
    from . import delivery

    return delivery.retry_due()


SCHEDULES = {
    "zhima-webhooks": ("leases.webhooks.tasks.retry_webhooks", 1),
}
