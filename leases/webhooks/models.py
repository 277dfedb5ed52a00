"""Webhook endpoints of a developer account and the log of what was delivered to them.

They belong to the leases app's schema (``app_label``): their tables and migrations are the
leases app's. The logic is in ``leases.webhooks.delivery``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import crypto
from accounts.models import DeveloperAccount

CODE_RECEIVED = "lease.code_received"
LEASE_ENDED = "lease.ended"
EVENTS = (CODE_RECEIVED, LEASE_ENDED)
EVENT_CHOICES = [
    (CODE_RECEIVED, _("a code (SMS) was received")),
    (LEASE_ENDED, _("a lease ended (released, expired, blacklisted, failed)")),
]

# Receivers are ordinary web servers: nothing but http(s) is ever posted to.
validate_webhook_url = URLValidator(schemes=["http", "https"])


class Webhook(models.Model):
    """One URL a manager registered for an account's lease events. The signing secret is
    stored encrypted like the pkey and shown once, when it is created."""

    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500, validators=[validate_webhook_url])
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "leases"
        ordering = ["account", "id"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")

    def __str__(self) -> str:
        return f"{self.account} → {self.shown_url}"

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = crypto.encrypt(raw)

    def get_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @property
    def shown_url(self) -> str:
        """The URL for pages and logs: a password in it (``user:pass@host``) is masked."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))


class WebhookDelivery(models.Model):
    """One event for one endpoint: the exact body (retries send the same bytes, signed anew
    with a fresh timestamp), its state and when it is next due."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40)
    event = models.CharField(max_length=40)
    # What the event is about ("lease:12", "lease:12:message:34"): an event announced twice
    # (a repeated commit hook) is one delivery.
    subject = models.CharField(max_length=80)
    lease_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "leases"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event", "subject"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["webhook", "-created_at", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.event} {self.state}"

    @property
    def last_attempt(self) -> WebhookAttempt | None:
        """The latest attempt (from the prefetched log, when the page prefetched it)."""
        attempts = list(self.attempt_log.all())
        return attempts[-1] if attempts else None


class WebhookAttempt(models.Model):
    """One POST of a delivery: the receiver's status code, or the error when there was none."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "leases"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
