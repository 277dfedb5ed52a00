"""Items (the upstream's projects), leased numbers and their messages.

State changes of a lease are written only by the ``leases.services`` package.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import DeveloperAccount
from accounts.upstream import wire

SEVERAL_PER_REQUEST = {2, 5, 6}
CAN_SEND = {3, 4, 5, 6}
SEND_SEVERAL = {4, 5, 6}
SEVERAL_SMS = {5, 6}
MAX_PER_REQUEST = 10


class Item(models.Model):
    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(_("item id"), max_length=32)
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    msg = models.CharField(_("upstream message"), max_length=300, blank=True)
    price_raw = models.CharField(_("price"), max_length=300, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    type = models.CharField(_("type"), max_length=16, blank=True)
    code_regex = models.CharField(
        _("code regex"),
        max_length=200,
        blank=True,
        help_text=_("Optional; its first group (or whole match) is the code."),
    )
    code_alphanumeric = models.BooleanField(_("codes may hold letters"), default=True)
    wait_limit_seconds = models.PositiveIntegerField(
        _("wait limit (seconds)"),
        default=600,
        help_text=_("Release automatically when no SMS arrived within this time."),
    )
    release_after_code = models.BooleanField(
        _("release when the code arrives"),
        default=True,
        help_text=_("Ignored for items that receive several SMS (types 5 and 6)."),
    )
    refreshed_at = models.DateTimeField(_("refreshed at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "item_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "item_id"], name="item_unique"),
        ]
        verbose_name = _("item")
        verbose_name_plural = _("items")

    def __str__(self) -> str:
        return f"{self.item_id} {self.name}".strip()

    @property
    def type_int(self) -> int | None:
        return int(self.type) if self.type.isdigit() else None

    @property
    def usable(self) -> bool:
        return self.status == "1"

    @property
    def max_per_request(self) -> int:
        return MAX_PER_REQUEST if self.type_int in SEVERAL_PER_REQUEST else 1

    @property
    def can_send(self) -> bool:
        return self.type_int in CAN_SEND

    @property
    def sends_several(self) -> bool:
        return self.type_int in SEND_SEVERAL

    @property
    def several_sms(self) -> bool:
        return self.type_int in SEVERAL_SMS

    def tier_list(self) -> list[wire.Tier]:
        return wire.tiers_from_json(self.tiers)


class LeaseState(models.TextChoices):
    WAITING = "waiting", _("waiting")
    RECEIVED = "received", _("received")
    RELEASING = "releasing", _("releasing")
    RELEASED = "released", _("released")
    EXPIRED = "expired", _("expired")
    BLOCKED = "blocked", _("blocked")
    FAILED = "failed", _("failed")


ACTIVE_STATES = (LeaseState.WAITING, LeaseState.RECEIVED)
HELD_STATES = (LeaseState.WAITING, LeaseState.RECEIVED, LeaseState.RELEASING)
FINAL_STATES = (LeaseState.RELEASED, LeaseState.EXPIRED, LeaseState.BLOCKED, LeaseState.FAILED)


class LeaseRequest(models.Model):
    """One submission of the lease form (or one service call), keyed for idempotency: a
    second submission with the same key returns this row and leases nothing."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        REFUSED = "refused", _("refused")
        AMBIGUOUS = "ambiguous", _("unknown — check upstream")
        FAILED = "failed", _("failed")

    key = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE)
    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    quantity = models.PositiveSmallIntegerField(default=1)
    params = models.JSONField(default=dict)
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.PENDING)
    msg = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)  # when its outcome was known

    class Meta:
        indexes = [models.Index(fields=["outcome", "created_at"], name="leasereq_outcome")]

    def __str__(self) -> str:
        return f"{self.key} {self.outcome}"


def held_rows(*fields: str) -> list[tuple]:
    """``fields`` of every lease that holds a number (waiting, received, releasing).

    They are few, the history behind them may be millions of rows, and SQLite's planner,
    which only knows the average number of rows per state, would rather scan the table than
    use the (state, next_poll_at) index; there the index is named. PostgreSQL's statistics
    know that these states are rare.
    """
    qs = Lease.objects.filter(state__in=HELD_STATES).order_by().values_list(*fields)
    if connection.vendor != "sqlite":
        return list(qs)
    sql, params = qs.query.sql_with_params()
    table = connection.ops.quote_name(Lease._meta.db_table)
    sql = sql.replace(f"FROM {table}", f'FROM {table} INDEXED BY "lease_due"', 1)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


class Lease(models.Model):
    """One number of one item on one developer account.

    States: waiting → received → (waiting again, for several-SMS items) → released | expired |
    blocked | failed. ``releasing`` is the short-lived claim taken before the release call.

    ``cost`` is an estimate: the unit price of the n-th number of this item on this account,
    where n counts the numbers leased through this console (the upstream may count numbers
    leased elsewhere, and the tiers are those of the last item refresh).
    """

    account = models.ForeignKey(DeveloperAccount, on_delete=models.PROTECT, related_name="leases")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="leases")
    request = models.ForeignKey(LeaseRequest, on_delete=models.SET_NULL, null=True, blank=True)
    phone = models.CharField(_("number"), max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leases",
    )
    state = models.CharField(
        _("state"), max_length=10, choices=LeaseState, default=LeaseState.WAITING
    )
    end_reason = models.CharField(_("reason"), max_length=200, blank=True)
    leased_at = models.DateTimeField(_("leased at"), default=timezone.now)
    received_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    wait_deadline = models.DateTimeField(null=True, blank=True)
    release_deadline = models.DateTimeField()
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    code = models.CharField(_("code"), max_length=32, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-leased_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_poll_at"], name="lease_due"),
            models.Index(fields=["state", "release_deadline"], name="lease_deadline"),
            models.Index(fields=["account", "-leased_at", "-id"], name="lease_account_time"),
            models.Index(fields=["-leased_at", "-id"], name="lease_time"),
            models.Index(fields=["phone"], name="lease_phone"),
            models.Index(fields=["code"], name="lease_code"),
            models.Index(fields=["user", "leased_at"], name="lease_user_time"),
            # History filters by state or by item, newest first, without a sort.
            models.Index(fields=["state", "-leased_at", "-id"], name="lease_state_time"),
            models.Index(fields=["item", "-leased_at", "-id"], name="lease_item_time"),
        ]
        verbose_name = _("lease")
        verbose_name_plural = _("leases")

    def __str__(self) -> str:
        return f"{self.phone} ({self.item.item_id})"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @staticmethod
    def deadline_from(leased_at) -> timezone.datetime:
        """Always before the upstream's forced release, by the configured margin."""
        minutes = (
            settings.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES - settings.ZHIMA_RELEASE_MARGIN_MINUTES
        )
        return leased_at + timedelta(minutes=max(minutes, 0.01))


class Message(models.Model):
    class Direction(models.TextChoices):
        RECEIVED = "in", _("received")
        SENT = "out", _("sent")

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction)
    text = models.TextField()
    digest = models.CharField(max_length=64)
    status = models.CharField(max_length=40, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    code = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="message_time")]
        constraints = [
            # A redelivered poll result (the upstream repeats the latest SMS) is stored once.
            models.UniqueConstraint(fields=["lease", "direction", "digest"], name="message_once"),
        ]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return self.text[:60]


class LeaseEvent(models.Model):
    """The lease page's timeline: leased, received, sent, released… (polls are summarised)."""

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20)
    actor = models.CharField(max_length=150, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.detail}"


class PollerHeartbeat(models.Model):
    """One row per poller slot: who runs it and when it last beat (restart-safe claims)."""

    slot = models.PositiveSmallIntegerField(primary_key=True)
    owner = models.CharField(max_length=40, blank=True)
    beat_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"poller slot {self.slot}"


from .models_webhooks import Webhook, WebhookAttempt, WebhookDelivery  # noqa: E402, F401
