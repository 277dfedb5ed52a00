"""Items (the upstream's projects), leased numbers and their messages.

State changes of a lease are written only by the ``leases.services`` package.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.bidi import visible
from accounts.models import ApiToken, DeveloperAccount
from accounts.upstream import wire

from .choices import (
    ACTIVE_STATES,
    FINAL_STATES,
    HELD_STATES,
    MAX_PER_REQUEST,
    EndReason,
    EventKind,
    ItemStatus,
    ItemType,
    LeaseState,
    SendStatus,
    render,
)

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "HELD_STATES",
    "MAX_PER_REQUEST",
    "EndReason",
    "EventKind",
    "Item",
    "ItemStatus",
    "ItemType",
    "Lease",
    "LeaseEvent",
    "LeaseQuerySet",
    "LeaseRequest",
    "LeaseState",
    "Message",
    "PollerHeartbeat",
    "SendStatus",
    "held_rows",
]


class Item(models.Model):
    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(_("item id"), max_length=32)
    name = models.CharField(_("name"), max_length=200, blank=True)
    # The upstream's status and type; null when it sent none (or a non-number, kept in msg).
    status = models.PositiveSmallIntegerField(
        _("status"), choices=ItemStatus, null=True, blank=True
    )
    msg = models.CharField(_("upstream message"), max_length=300, blank=True)
    price_raw = models.CharField(_("price"), max_length=300, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    type = models.PositiveSmallIntegerField(_("type"), choices=ItemType, null=True, blank=True)
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
        help_text=_(
            "Applies to items that only receive (types 1 and 2); items that can send (types "
            "3 to 6) keep the number for sending and further SMS."
        ),
    )
    refreshed_at = models.DateTimeField(_("refreshed at"), null=True, blank=True)
    # A manager retires an item the team no longer leases: it leaves the lease form and the
    # refreshes, and stays for the history of the numbers leased for it.
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "item_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "item_id"], name="item_unique"),
        ]
        verbose_name = _("item")
        verbose_name_plural = _("items")

    def __str__(self) -> str:
        return visible(f"{self.item_id} {self.name}".strip())

    @property
    def kind(self) -> ItemType | None:
        """The type as the enum, None when the upstream gave none this console knows."""
        return ItemType(self.type) if self.type in ItemType.values else None

    @property
    def usable(self) -> bool:
        return self.status == ItemStatus.NORMAL and self.retired_at is None

    @property
    def max_per_request(self) -> int:
        return self.kind.max_per_request if self.kind else 1

    @property
    def can_send(self) -> bool:
        return bool(self.kind and self.kind.can_send)

    @property
    def sends_several(self) -> bool:
        return bool(self.kind and self.kind.sends_several)

    @property
    def several_sms(self) -> bool:
        return bool(self.kind and self.kind.several_sms)

    @property
    def receives_several(self) -> bool:
        return bool(self.kind and self.kind.receives_several)

    @property
    def releases_after_code(self) -> bool:
        """What the sweep does with this item (the setting counts for types 1 and 2 only)."""
        return self.release_after_code and bool(self.kind and self.kind.release_after_code)

    def tier_list(self) -> list[wire.Tier]:
        return wire.tiers_from_json(self.tiers)


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
    # The spend this request may cause, held against the member's budgets until it is known:
    # reserved under the membership's lock before the lease call, zero once the leases carry
    # their cost (or nothing was leased); an ambiguous request keeps its worst case.
    reserved = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    tag = models.CharField(max_length=100, blank=True, default="", db_default="")
    token = models.ForeignKey(
        ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["outcome", "created_at"], name="leasereq_outcome"),
            # The few requests holding a reservation, read by every budget check.
            models.Index(
                fields=["user", "account", "created_at"],
                condition=models.Q(reserved__gt=0),
                name="leasereq_reserved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.outcome}"


class LeaseQuerySet(models.QuerySet):
    """The filters every part of the console asks for, named once."""

    def held(self) -> LeaseQuerySet:
        """Numbers still held upstream: waiting, received or being released."""
        return self.filter(state__in=HELD_STATES)

    def active(self) -> LeaseQuerySet:
        """Numbers a member can act on: waiting or received."""
        return self.filter(state__in=ACTIVE_STATES)

    def waiting(self) -> LeaseQuerySet:
        return self.filter(state=LeaseState.WAITING)

    def received(self) -> LeaseQuerySet:
        return self.filter(state=LeaseState.RECEIVED)

    def releasing(self) -> LeaseQuerySet:
        return self.filter(state=LeaseState.RELEASING)

    def due(self, now) -> LeaseQuerySet:
        """Waiting leases whose next poll is due."""
        return self.filter(state=LeaseState.WAITING, next_poll_at__lte=now)

    def releasing_due(self, now) -> LeaseQuerySet:
        """Queued releases whose next attempt is due."""
        return self.filter(state=LeaseState.RELEASING, next_poll_at__lte=now)

    def past_deadline(self, now) -> LeaseQuerySet:
        """Active leases at their release deadline (before the upstream's forced release)."""
        return self.active().filter(release_deadline__lte=now)

    def past_wait_limit(self, now) -> LeaseQuerySet:
        """Active leases past their item's wait limit."""
        return self.active().filter(wait_deadline__lte=now)

    def done_with_code(self) -> LeaseQuerySet:
        """Received leases of items that give the number back once the code is in."""
        return self.received().filter(
            item__release_after_code=True, item__type__in=ItemType.released_after_code()
        )


def held_rows(*fields: str) -> list[tuple]:
    """``fields`` (plain columns of the lease, by name) of every lease that holds a number
    (waiting, received, releasing).

    They are few, the history behind them may be millions of rows. PostgreSQL's statistics
    know that these states are rare, and the ORM's query is planned well. SQLite's planner
    only knows the average number of rows per state and would rather scan the table than use
    the (state, next_poll_at) index; a partial index on the held states is no help, because
    SQLite uses one only when the query names the same states as literals, and the ORM binds
    them as parameters. So on SQLite this is one raw statement, written whole (not spliced
    into the ORM's SQL), that names the index (BENCHMARKS.md, "What the figures rest
    on").
    """
    if connection.vendor != "sqlite":
        return list(Lease.objects.filter(state__in=HELD_STATES).order_by().values_list(*fields))
    meta, q = Lease._meta, connection.ops.quote_name
    # Concrete fields only, each with a column (the stubs allow a relation or a None column).
    columns = ", ".join(q((meta.pk if f == "pk" else meta.get_field(f)).column) for f in fields)  # type: ignore[union-attr,arg-type]
    marks = ", ".join(["%s"] * len(HELD_STATES))
    sql = (
        f"SELECT {columns} FROM {q(meta.db_table)} INDEXED BY {q('lease_due')} "  # noqa: S608
        f"WHERE {q(meta.get_field('state').column)} IN ({marks})"  # type: ignore[arg-type]
    )
    with connection.cursor() as cur:
        cur.execute(sql, [str(s) for s in HELD_STATES])
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
    # Why the lease ends: set when it is queued for release (the release finishes it in
    # ``end_state``) or when it ends at once; shown through ``end_text``.
    end_state = models.CharField(
        _("final state"), max_length=10, choices=LeaseState, blank=True, default=""
    )
    end_reason = models.CharField(
        _("reason"), max_length=20, choices=EndReason, blank=True, default=""
    )
    end_params = models.JSONField(_("reason parameters"), default=dict, blank=True)
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
    # Set by API clients to find and tear down what one CI run leased; the token it came by.
    tag = models.CharField(_("tag"), max_length=100, blank=True, default="", db_default="")
    token = models.ForeignKey(
        ApiToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leases",
        verbose_name=_("API token"),
    )

    objects = LeaseQuerySet.as_manager()

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
            models.Index(fields=["tag", "-leased_at", "-id"], name="lease_tag_time"),
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

    @property
    def end_text(self) -> str:
        """Why it ended (or will end), in the reader's language; the upstream's ``msg`` as is."""
        return describe(self.end_reason, self.end_params)

    @staticmethod
    def deadline_from(leased_at: datetime) -> datetime:
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
    status = models.CharField(max_length=20, choices=SendStatus, blank=True)
    # The upstream's answer to a delivery query, verbatim (``SendStatus.UNCONFIRMED``).
    status_msg = models.CharField(max_length=300, blank=True, default="")
    candidates = models.JSONField(default=list, blank=True)
    code = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    key = models.CharField(max_length=64, blank=True)  # the send form's submission

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

    @property
    def status_text(self) -> str:
        return render(SendStatus, self.status, {"msg": self.status_msg}) if self.status else ""


class SendRequest(models.Model):
    """One keyed send (the API's ``Idempotency-Key``, per token) and its first answer: the
    same key is answered the same again and sends nothing. The upstream call itself is also
    guarded by the sent ``Message``'s ``message_once`` claim under the same key."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    key = models.CharField(max_length=64, unique=True)
    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)  # of the text: another text under the key is refused
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.PENDING)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    msg = models.TextField(blank=True)  # a failure's text, as first answered
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key} {self.outcome}"


class LeaseEvent(models.Model):
    """The lease page's timeline: leased, received, sent, released… (polls are summarised)."""

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=EventKind)
    actor = models.CharField(max_length=150, blank=True)
    detail = models.CharField(max_length=300, blank=True)  # verbatim: a code, a sent text…
    reason = models.CharField(max_length=20, choices=EndReason, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reason or self.detail}"

    @property
    def text(self) -> str:
        """The detail in the reader's language: the reason when there is one."""
        return describe(self.reason, self.params) if self.reason else self.detail


def describe(reason: str, params: dict | None) -> str:
    """An end reason's text; an upstream message noted on the release is appended as is."""
    if not reason:
        return ""
    text = render(EndReason, reason, params)
    note = (params or {}).get("note")
    return f"{text} ({note})" if note else text


class PollerHeartbeat(models.Model):
    """One row per poller slot: who runs it and when it last beat (restart-safe claims)."""

    slot = models.PositiveSmallIntegerField(primary_key=True)
    owner = models.CharField(max_length=40, blank=True)
    beat_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"poller slot {self.slot}"
