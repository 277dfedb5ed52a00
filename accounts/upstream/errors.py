"""The errors the upstream client raises: importing them does not import the client.

Every one is an ``UpstreamError``; ``str()`` never holds the pkey.
"""

from __future__ import annotations


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


class UpstreamRefusal(UpstreamError):
    """The upstream answered and said no; ``msg`` is its text, verbatim."""

    def __init__(self, endpoint: str, msg: str):
        self.endpoint = endpoint
        self.msg = msg
        super().__init__(msg or f"{endpoint}: refused without a message")


class SessionExpired(UpstreamRefusal):
    """The answer says the session is missing or expired: verify, then repeat once."""


class UnreadableResponse(UpstreamError):
    """The upstream answered with a body we cannot read; ``raw`` keeps it (truncated)."""

    def __init__(self, endpoint: str, reason: str, raw: str):
        self.endpoint = endpoint
        self.reason = reason
        self.raw = raw
        super().__init__(f"{endpoint}: unreadable response ({reason})")
