"""The errors the upstream client raises: importing them does not import the client.

Every one is an ``UpstreamError``; ``str()`` never holds the pkey.
"""

from __future__ import annotations

import re

# A refusal that means the number is not (or no longer) leased to this account: released, never
# leased, or unknown (get-SMS, send, release and block answer so).
NOT_LEASED = re.compile(r"未获取|已释放|不存在该号码|号码不存在|not leased", re.I)


class UpstreamError(Exception):
    """Base of every error the client raises; ``str()`` never holds the pkey."""

    endpoint: str = ""


class TransportError(UpstreamError):
    """No usable HTTP answer: refused, timed out, dropped, or an HTTP status other than 200.

    ``ambiguous`` is true when the request may have reached the upstream and taken effect.
    """

    def __init__(
        self, endpoint: str, reason: str, *, ambiguous: bool, http_status: int | None = None
    ) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.ambiguous = ambiguous
        self.http_status = http_status
        super().__init__(f"{endpoint}: {reason}")


class ConnectFailed(TransportError):
    """The connection was never made, so nothing was sent: never ambiguous."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, reason, ambiguous=False)


class ConnectTimedOut(ConnectFailed):
    """No connection within the connect timeout."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, "connect timed out")


class ConnectRefused(ConnectFailed):
    """The connection was refused (or the name did not resolve)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, "connection refused")


class ConnectionDropped(TransportError):
    """The connection broke after the request may have been sent: ambiguous."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, "connection dropped", ambiguous=True)


class NoAnswer(TransportError):
    """No answer within the read timeout (``seconds``): the request was sent, ambiguous."""

    def __init__(self, endpoint: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(endpoint, f"no answer within {seconds:g} s", ambiguous=True)


class HttpStatusError(TransportError):
    """An HTTP status other than 200 (``http_status``): ambiguous."""

    def __init__(self, endpoint: str, status: int) -> None:
        super().__init__(endpoint, f"HTTP {status}", ambiguous=True, http_status=status)


class UpstreamRefusal(UpstreamError):
    """The upstream answered and said no; ``msg`` is its text, verbatim."""

    def __init__(self, endpoint: str, msg: str):
        self.endpoint = endpoint
        self.msg = msg
        super().__init__(msg or f"{endpoint}: refused without a message")


class SessionExpired(UpstreamRefusal):
    """The answer says the session is missing or expired: verify, then repeat once."""


class NotLeased(UpstreamRefusal):
    """The number is not (or no longer) leased to this account: released, never leased or
    unknown to the upstream (``NOT_LEASED``). Nothing is held upstream any more."""


def refusal(endpoint: str, msg: str) -> UpstreamRefusal:
    """The refusal for an answer about a leased number: ``NotLeased`` when it says so."""
    if NOT_LEASED.search(msg):
        return NotLeased(endpoint, msg)
    return UpstreamRefusal(endpoint, msg)


class UnreadableResponse(UpstreamError):
    """The upstream answered with a body we cannot read; ``raw`` keeps it (truncated)."""

    def __init__(self, endpoint: str, reason: str, raw: str):
        self.endpoint = endpoint
        self.reason = reason
        self.raw = raw
        super().__init__(f"{endpoint}: unreadable response ({reason})")
