"""The client's address: one value for the lockout, the metrics allow-list and the logs.

Behind a proxy ``REMOTE_ADDR`` is the proxy's address, the same for every user; the client is
in ``X-Forwarded-For``, a header anyone can also send. ``TRUSTED_PROXIES`` says whom to
believe: a number of proxies in front of the console (the client is that many entries from the
right), or the proxies' addresses and networks (the client is the rightmost address that is not
one of them). With neither, the header is ignored and the client is ``REMOTE_ADDR``.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise(raw: str) -> str | None:
    """An address in canonical form, without a port, or None when it is not an address."""
    value = raw.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def parse_trusted(raw: str) -> int | tuple[str, ...]:
    """``TRUSTED_PROXIES``: a count (``1``) or addresses and networks (``127.0.0.1,10.0.0.0/8``).

    Raises ``ValueError`` naming a bad entry (the settings turn it into a clear error)."""
    raw = raw.strip()
    if not raw:
        return ()
    if raw.isdigit():
        return int(raw)
    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is neither an address nor a network") from None
    return entries


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def in_networks(address: str, entries) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(entries)) if ip.version == net.version)


def resolve(remote_addr: str, forwarded_for: str, trusted: int | tuple[str, ...]) -> str:
    """The client's address from the peer's address and the ``X-Forwarded-For`` header."""
    peer = normalise(remote_addr or "") or (remote_addr or "")
    hops = [h for h in (forwarded_for or "").split(",") if h.strip()]
    if isinstance(trusted, int):
        if trusted <= 0 or len(hops) < trusted:
            return peer  # not through the proxies we were told of: the peer is the client
        return normalise(hops[-trusted]) or peer
    if not trusted or not in_networks(peer, trusted):
        return peer  # the header is only believed when a trusted proxy hands it to us
    client = peer
    for hop in reversed(hops):
        address = normalise(hop)
        if address is None:
            return client  # garbage: the last address a trusted proxy vouched for
        client = address
        if not in_networks(address, trusted):
            return address
    return client


def client_ip(request) -> str:
    """The client's address of this request (computed once and kept on the request)."""
    cached = getattr(request, "client_ip", None)
    if cached is not None:
        return cached
    address = resolve(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )
    request.client_ip = address
    return address
