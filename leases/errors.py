"""The errors the lease services raise; ``str()`` of each is shown to the user as is.

An upstream failure is named by the kind that happened: the upstream *refused* (its ``msg``
verbatim), answered with an *HTTP error*, could not be *reached*, did not answer in time
(*timed out*), or its answer was *unreadable*. For a lease the text also says what became of
the money: a definite failure leased nothing; a request that may have reached the upstream may
have leased and charged a number, which the console frees by itself (``leases.reconcile``) —
it never repeats the call.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.upstream.errors import (
    ConnectionDropped,
    ConnectRefused,
    ConnectTimedOut,
    HttpStatusError,
    NoAnswer,
    TransportError,
    UnreadableResponse,
    UpstreamError,
    UpstreamRefusal,
)


class ServiceError(Exception):
    """An action that cannot be done; ``str()`` is shown to the user as is.

    ``kind`` is empty for the console's own refusals (budget, role, state) and one of
    ``KINDS`` for an upstream failure; ``what`` and ``money`` are the two halves of the text
    (what happened, what became of the money) for pages that show them apart.
    """

    kind: str = ""

    def __init__(self, what: str = "", money: str = "", kind: str = ""):
        self.what, self.money = str(what), str(money)
        if kind:
            self.kind = kind
        super().__init__(" ".join(s for s in (self.what, self.money) if s))


class AmbiguousLease(ServiceError):
    """A lease call that may have reached the upstream and got no readable answer."""


class NotHeld(ServiceError):
    """The lease is no longer held (ended meanwhile): there is nothing to act on."""

    def __init__(self) -> None:
        super().__init__(_("This number is no longer held."))


class ReleasePending(ServiceError):
    """The release was queued but the upstream did not confirm it; the sweep retries it."""

    def __init__(self) -> None:
        super().__init__(
            _("The upstream did not confirm the release; it is retried automatically.")
        )


REFUSED, HTTP_ERROR, UNREACHABLE, TIMEOUT, UNREADABLE = (
    "refused",
    "http",
    "unreachable",
    "timeout",
    "unreadable",
)
KINDS = (REFUSED, HTTP_ERROR, UNREACHABLE, TIMEOUT, UNREADABLE)

_NOT_LEASED = gettext_noop("No number was leased and nothing was charged.")
_AMBIGUOUS = gettext_noop(
    "A number may have been leased and charged. The request was not repeated; the console "
    "frees them by itself (release all) as soon as this account holds no numbers, and a "
    "manager can release all now."
)


def lease_may_have_happened(exc: UpstreamError) -> bool:
    """Whether a failed lease may have leased numbers: only the lease call itself, and only
    when it may have reached the upstream (a late, dropped, non-200 or unreadable answer); a
    refusal or a verification before it leased nothing."""
    if isinstance(exc, UpstreamRefusal) or exc.endpoint != "get_numbers":
        return False
    return getattr(exc, "ambiguous", True)


def _transport_text(exc: TransportError) -> tuple[str, str]:
    if isinstance(exc, HttpStatusError):
        return HTTP_ERROR, _("The upstream answered with an error (HTTP %(status)s).") % {
            "status": exc.http_status
        }
    if isinstance(exc, NoAnswer):
        return TIMEOUT, _("The upstream did not answer within %(s)s seconds.") % {
            "s": f"{exc.seconds:g}"
        }
    if isinstance(exc, ConnectTimedOut):
        return TIMEOUT, _("The upstream could not be reached: %(reason)s.") % {
            "reason": _("the connection timed out")
        }
    if isinstance(exc, ConnectRefused):
        reason = _("the connection was refused")
    elif isinstance(exc, ConnectionDropped):
        reason = _("the connection broke before the answer")
    else:
        reason = exc.reason
    return UNREACHABLE, _("The upstream could not be reached: %(reason)s.") % {"reason": reason}


def upstream_error(exc: UpstreamError, *, lease: bool | None = None) -> ServiceError:
    """The user's text for an upstream failure. ``lease``: the failure ended a lease request
    (default: the failed call was the lease call), so the text says what became of the money.
    An ambiguous lease failure is an ``AmbiguousLease``."""
    if lease is None:
        lease = exc.endpoint == "get_numbers"
    if isinstance(exc, UpstreamRefusal):
        kind, what = REFUSED, exc.msg or _("The upstream refused without a message.")
    elif isinstance(exc, UnreadableResponse):
        kind, what = UNREADABLE, _("The upstream answered, but its answer could not be read.")
    elif isinstance(exc, TransportError):
        kind, what = _transport_text(exc)
    else:
        kind, what = (
            UNREACHABLE,
            _("The upstream could not be reached: %(reason)s.") % {"reason": exc},
        )
    if not lease:
        return ServiceError(what, kind=kind)
    if lease_may_have_happened(exc):
        return AmbiguousLease(what, _(_AMBIGUOUS), kind=kind)
    return ServiceError(what, _(_NOT_LEASED), kind=kind)
