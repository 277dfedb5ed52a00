"""Developer accounts of the upstream, who may use them, and the audit log of every call."""

from __future__ import annotations

import re
from collections import defaultdict

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import crypto
from .bidi import visible


class DeveloperAccount(models.Model):
    name = models.CharField(_("display name"), max_length=80, unique=True)
    upstream_account = models.CharField(_("upstream account"), max_length=120)
    pkey_encrypted = models.TextField(editable=False)
    base_url = models.URLField(
        _("base URL"), blank=True, help_text=_("Empty: the ZHIMA_BASE_URL setting.")
    )
    sandbox = models.BooleanField(
        _("sandbox"), default=False, help_text=_("The account lives on the simulator.")
    )
    active = models.BooleanField(_("active"), default=True)
    quota = models.IntegerField(_("quota"), null=True, blank=True, editable=False)
    quota_read_at = models.DateTimeField(_("quota read at"), null=True, blank=True, editable=False)
    low_quota_threshold = models.PositiveIntegerField(_("low-quota threshold"), default=50)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set while the console frees numbers a lost lease answer may have leased (release all on
    # an idle account, ``leases.reconcile``); lease requests are refused meanwhile.
    reconciling_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("developer account")
        verbose_name_plural = _("developer accounts")

    def __str__(self) -> str:  # a label (select options, the admin): controls written out
        return visible(self.name)

    def set_pkey(self, raw: str) -> None:
        self.pkey_encrypted = crypto.encrypt(raw)

    def get_pkey(self) -> str:
        """The pkey in clear, for the client only; raises ``SecretUnreadable`` loudly."""
        return crypto.decrypt(self.pkey_encrypted)

    @property
    def effective_base_url(self) -> str:
        return self.base_url or settings.ZHIMA_BASE_URL

    @property
    def quota_low(self) -> bool:
        return self.quota is not None and self.quota < self.low_quota_threshold


class Role(models.TextChoices):
    VIEWER = "viewer", _("viewer")
    OPERATOR = "operator", _("operator")
    MANAGER = "manager", _("manager")


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.MANAGER: 3}


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(
        DeveloperAccount, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role, default=Role.OPERATOR)
    daily_budget = models.DecimalField(
        _("daily budget"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    monthly_budget = models.DecimalField(
        _("monthly budget"), max_digits=12, decimal_places=4, null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="membership_unique"),
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.account} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class AppendOnlyQuerySet(models.QuerySet):
    def of_lease(self, lease_id: int, request_id: int | None = None):
        """The calls about one lease: those that name it, and the lease call of its request
        (made before the lease existed, so it names the request instead)."""
        q = models.Q(lease_id=lease_id)
        if request_id is not None:
            q |= models.Q(lease_request_id=request_id, endpoint="get_numbers")
        return self.filter(q)

    def about_number(self, phone: str):
        """The calls about ``phone``: those about it alone (an indexed match) and the batch
        calls (a lease or release of several numbers) that name it among others."""
        among = rf"(^|,){re.escape(phone)}(,|$)"
        batch = models.Q(endpoint__in=("get_numbers", "release"), phone__regex=among)
        return self.filter(models.Q(phone=phone) | batch)

    def update(self, **kwargs):
        raise TypeError("the audit log is append-only")

    def delete(self):
        raise TypeError("the audit log is append-only")


class Outcome(models.TextChoices):
    OK = "ok", _("ok")
    REFUSED = "refused", _("refused")
    TRANSPORT = "transport", _("transport error")
    UNREADABLE = "unreadable", _("unreadable")
    PENDING = "pending", _("in flight")
    UNKNOWN = "unknown", _("outcome unknown")


# The client's endpoint names (accounts/upstream/client.py), as the UI shows them; the audit
# rows and the CSV keep the names themselves.
ENDPOINT_LABELS = {
    "verify": _("verify key"),
    "details": _("item details"),
    "get_numbers": _("lease numbers"),
    "get_sms": _("read SMS"),
    "send_sms": _("send SMS"),
    "send_status": _("SMS delivery status"),
    "release": _("release"),
    "release_all": _("release all"),
    "block": _("blacklist"),
}


class ApiCall(models.Model):
    """One upstream call, success or failure. A row is written *pending* before the request
    is sent and completed once with its outcome (``accounts.audit``); nothing else ever
    changes or deletes it."""

    created_at = models.DateTimeField(default=timezone.now)
    account = models.ForeignKey(
        DeveloperAccount, on_delete=models.PROTECT, null=True, related_name="api_calls"
    )
    actor = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    endpoint = models.CharField(max_length=20)
    params = models.JSONField(default=dict)
    http_status = models.PositiveSmallIntegerField(null=True)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome)
    msg = models.TextField(blank=True)
    raw_body = models.TextField(blank=True)
    lease_id = models.BigIntegerField(null=True, blank=True)
    lease_request_id = models.BigIntegerField(null=True, blank=True)  # the lease form's submission
    # One number, or the numbers of a batch (lease, release) comma-separated.
    phone = models.CharField(max_length=2000, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="apicall_time"),
            models.Index(fields=["account", "-created_at"], name="apicall_account"),
            models.Index(fields=["endpoint", "-created_at"], name="apicall_endpoint"),
            models.Index(fields=["outcome", "-created_at"], name="apicall_outcome"),
            models.Index(fields=["actor", "-created_at"], name="apicall_actor"),
            models.Index(fields=["phone"], name="apicall_phone"),
            models.Index(fields=["lease_id"], name="apicall_lease"),
        ]
        verbose_name = _("upstream call")
        verbose_name_plural = _("upstream calls")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.endpoint} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the audit log is append-only")


class Tally(models.Model):
    """A named running total for the metrics endpoint (``calls|get_sms|ok``, ``polls``…):
    bumped where things happen, so a scrape reads a few rows instead of scanning millions."""

    key = models.CharField(max_length=120, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    @classmethod
    def bump(cls, counts: dict[str, int]) -> None:
        """Add to the totals in one statement (an upsert both SQLite and PostgreSQL know)."""
        items = [(k, n) for k, n in counts.items() if n]
        if not items:
            return
        table = connection.ops.quote_name(cls._meta.db_table)
        values = ", ".join(["(%s, %s)"] * len(items))
        sql = (
            f"INSERT INTO {table} (key, value) VALUES {values} "  # noqa: S608 - no user input
            f"ON CONFLICT (key) DO UPDATE SET value = {table}.value + excluded.value"
        )
        with connection.cursor() as cur:
            cur.execute(sql, [x for pair in sorted(items) for x in pair])


class AlertKind(models.TextChoices):
    """An alert's condition; ``detail`` is the text of its parameters when it was raised."""

    LOW_QUOTA = "low_quota", _("quota below its threshold")
    UPSTREAM_FAILING = "upstream_failing", _("the upstream is failing")
    POLLER_BEHIND = "poller_behind", _("the poller is behind its cadence")
    KEY_INVALID = "key_invalid", _("the key can no longer be verified")
    KEY_UNREADABLE = "key_unreadable", _("the stored key cannot be decrypted")

    @property
    def detail(self) -> str:
        return str(ALERT_DETAILS[self])


ALERT_DETAILS = {
    AlertKind.LOW_QUOTA: _("%(quota)s left; the threshold is %(threshold)s."),
    AlertKind.UPSTREAM_FAILING: _(
        "No successful call for %(minutes)s minutes; the last failure: %(endpoint)s "
        "%(outcome)s %(msg)s"
    ),
    AlertKind.POLLER_BEHIND: _(
        "The most overdue waiting number has waited %(lag)s s for its poll."
    ),
    AlertKind.KEY_INVALID: _("The upstream said: %(msg)s"),
    AlertKind.KEY_UNREADABLE: _(
        "The stored pkey of %(account)s cannot be decrypted with the configured field keys; "
        "nothing is sent for this account until it is entered again or the key is restored."
    ),
}


class Alert(models.Model):
    """One alert condition of one account: raised once, cleared once (with a recovery mail).

    The condition and its details are stored as a code and parameters (the upstream's ``msg``
    verbatim among them) and put into words when shown or mailed. ``message`` holds the text
    of alerts raised before that."""

    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=30, choices=AlertKind)
    active = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "kind"], name="alert_once")]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {'active' if self.active else 'clear'}"

    @property
    def text(self) -> str:
        """The details in the reader's language (the stored text for an older alert)."""
        if not self.params or self.kind not in AlertKind.values:
            return self.message
        values = defaultdict(str, self.params)
        try:
            return AlertKind(self.kind).detail % values
        except (TypeError, ValueError):
            return self.message


class ApiToken(models.Model):
    """A member's API token: acts with the member's roles and budgets, optionally narrowed to
    some developer accounts and to reading. Only a SHA-256 of the token is stored (it is 256
    random bits, so a slow hash would add nothing); the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=80)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)  # shown to tell tokens apart
    accounts = models.ManyToManyField(
        DeveloperAccount,
        blank=True,
        related_name="+",
        verbose_name=_("developer accounts"),
        help_text=_("None: every account of the member."),
    )
    # Whether ``accounts`` limits the token. Explicit, so that a token whose every account
    # was deleted reaches none, rather than every account of the member.
    limited = models.BooleanField(_("limited to its accounts"), default=False, editable=False)
    read_only = models.BooleanField(_("read-only"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # Set by ``tokens.authenticate`` on the token a request acts through (not a column).
    account_ids: list[int]

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        # A name means one token of the member, for good: revoking by name, the audit actor
        # "member · name" and the filters by token never take in a second one.
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="apitoken_one_name_per_member")
        ]

    def __str__(self) -> str:
        return visible(f"{self.name} ({self.prefix}…)")

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
