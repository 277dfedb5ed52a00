"""The codes stored for items, leases and their timeline, and what each one means.

Stored facts are codes (plus parameters such as the upstream's ``msg``, kept verbatim); the
English or Chinese text is produced when they are shown, in the reader's language.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import models
from django.utils.translation import gettext_lazy as _

MAX_PER_REQUEST = 10


class ItemType(models.IntegerChoices):
    """The upstream's item types (docs/upstream-api.md §3 and §10), with what each allows."""

    ONE = 1, _("one number per request")
    SEVERAL = 2, _("several numbers per request")
    SEND_ONE = 3, _("can send one SMS")
    SEND_SEVERAL = 4, _("can send several SMS")
    SEND_RECEIVE = 5, _("sends and receives several SMS")
    SEND_RECEIVE_6 = 6, _("sends and receives several SMS")

    @property
    def max_per_request(self) -> int:
        return MAX_PER_REQUEST if self in (2, 5, 6) else 1

    @property
    def can_send(self) -> bool:
        return self >= 3

    @property
    def sends_several(self) -> bool:
        return self >= 4

    @property
    def several_sms(self) -> bool:
        """The upstream's own words for types 5 and 6: "send and receive several"."""
        return self >= 5

    @property
    def release_after_code(self) -> bool:
        """Only receive-only items (1, 2) give the number back when the code arrives: an item
        that can send keeps it, so the user can send from it and wait for the answer."""
        return not self.can_send

    @property
    def receives_several(self) -> bool:
        """Whether a lease can wait for another SMS after one (the number is kept)."""
        return not self.release_after_code

    @classmethod
    def released_after_code(cls) -> list[int]:
        """The one source the automatic sweep filters by."""
        return [t.value for t in cls if t.release_after_code]


class ItemStatus(models.IntegerChoices):
    NORMAL = 1, _("normal")
    EXPIRED = 2, _("expired")
    PROBLEM = 3, _("other problem")


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
# The states a queued release may finish in (a blacklisting finishes through its own call).
RELEASE_TARGETS = (LeaseState.RELEASED, LeaseState.EXPIRED, LeaseState.FAILED)


class EndReason(models.TextChoices):
    """Why a lease ended (or will, once released). The label is a format string filled with
    the lease's ``end_params`` when shown."""

    USER = "user", _("released by %(user)s")
    ADMIN = "admin", _("released by %(user)s in the admin")
    RELEASE_ALL = "release_all", _("release all by %(user)s")
    BLACKLISTED = "blacklisted", _("blacklisted by %(user)s")
    CODE = "code", _("code received")
    DEADLINE = "deadline", _("released before the upstream's forced release")
    WAIT_LIMIT = "wait_limit", _("no SMS within the item's wait limit")
    HELD = "held", _("held for the item's wait limit after the last SMS")
    LOST = "lost", _("the SMS was lost (status 3)")
    TIMEOUT = "timeout", _("the upstream timed out waiting (status 4)")
    STATUS = "status", _("upstream status %(s)s")
    GONE = "gone", _("released upstream: %(msg)s")
    RECOVERED = "recovered", _("released after an interrupted blacklisting")
    OTHER = "other", "%(text)s"  # a text stored before reasons were codes, kept as it was

    @property
    def metric_kind(self) -> str:
        """The ``released|<kind>`` tally this reason counts under."""
        return "user" if self is EndReason.ADMIN else self.value


class EventKind(models.TextChoices):
    LEASED = "leased", _("leased")
    RECEIVED = "received", _("received")
    WAITING = "waiting", _("waiting for another SMS")
    SENT = "sent", _("sent")
    RELEASED = "released", _("released")
    EXPIRED = "expired", _("expired")
    BLOCKED = "blocked", _("blocked")
    FAILED = "failed", _("failed")


class SendStatus(models.TextChoices):
    """A message's delivery status; ``unconfirmed`` carries the upstream's answer verbatim."""

    RECEIVED = "received", _("received")
    SENDING = "sending", _("sending")  # claimed, the send call under way
    UNKNOWN = "unknown", _("not known whether it was sent")  # the send call's answer was lost
    SENT = "sent", _("sent")
    DELIVERED = "delivered", _("delivered")
    UNCONFIRMED = "unconfirmed", _("not confirmed: %(msg)s")


def render(choices: type[models.TextChoices], code: str, params: dict | None) -> str:
    """The text of ``code`` in the active language, its placeholders filled from ``params``
    (a missing one shows empty, an unknown code shows as it is)."""
    try:
        label = str(choices(code).label)
    except ValueError:
        return code
    values = defaultdict(str, {k: v for k, v in (params or {}).items()})
    try:
        return label % values
    except (TypeError, ValueError):
        return label
