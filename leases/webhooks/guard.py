"""Where webhooks may post: public addresses only, unless ``ZHIMA_WEBHOOK_PRIVATE_NETWORKS``
names the loopback, private or reserved networks they may reach too (a CI runner on the
office LAN, a receiver on this host).

A public address is one Python calls global and that is not multicast, site-local, reserved
or unspecified. An IPv6 address that carries an IPv4 address is judged by the IPv4 address
it carries, since that is where the packets end up: IPv4-mapped (``::ffff:a.b.c.d``),
IPv4-translated (``::ffff:0:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), NAT64
(``64:ff9b::/96``, and the local-use ``64:ff9b:1::/48`` in each RFC 6052 layout that fits),
6to4 (``2002::/16``) and Teredo (``2001::/32``: its server and its client, stored inverted).

A member must not make the console post to, and report the answers of, services that only
the console's own network can see (an admin page on 127.0.0.1, a cloud's metadata service on
169.254.169.254). Two checks:

- ``refused_address`` resolves a URL's host and names the first address not allowed: a clear
  refusal when the URL is registered, and again before each POST.
- ``session`` makes the POST through connections that check the address they actually
  connected to, before a byte is sent: a name that resolved to a public address for the first
  check and to a private one for the connection (DNS rebinding) is refused there.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from zhima_site.clientip import in_networks

REFUSED = "is not a public address"


IP = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
COMPATIBLE = ipaddress.IPv6Network("::/96")


class Refused(NamedTuple):
    """An address a webhook may not reach, and the IPv4 address it carries that is the
    reason ("" when the address itself is)."""

    address: str
    carried: str = ""

    def __str__(self) -> str:
        return f"{self.address} (carries {self.carried})" if self.carried else self.address


def _listed(ip: IP) -> bool:
    return in_networks(str(ip), settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS)


def _public(ip: IP) -> bool:
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or getattr(ip, "is_site_local", False)
    )


def _nat64_local(packed: bytes) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a local-use NAT64 address may carry: one for each RFC 6052 layout
    with a prefix inside the /48 whose shape fits (bits 64-71 and the suffix zero)."""
    out = [ipaddress.IPv4Address(packed[12:16])]  # /96
    for start, end in ((6, 11), (7, 12), (9, 13)):  # /48, /56, /64 (byte 8 is skipped)
        if packed[8] == 0 and not any(packed[end:]):
            out.insert(-1, ipaddress.IPv4Address(packed[start:8] + packed[9:end]))
    return out


def carried(ip: IP) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries, or None when it is not such a form."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.teredo:
        return list(ip.teredo)
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip in NAT64_LOCAL:
        return _nat64_local(ip.packed)
    if ip in NAT64 or ip in TRANSLATED or (ip in COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def refusal(address: str) -> Refused | None:
    """Why a webhook may not connect to ``address``, or None when it may (an IPv6 scope id is
    ignored, an IPv4-mapped IPv6 address counts as its IPv4 address)."""
    ip: IP = ipaddress.ip_address(address.split("%", 1)[0])
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if _listed(ip):
        return None
    inside = carried(ip)
    if inside is None:
        return None if _public(ip) else Refused(str(ip))
    for v4 in inside:
        if not (_public(v4) or _listed(v4)):
            return Refused(str(ip), str(v4))
    return None


def allowed(address: str) -> bool:
    """Whether a webhook may connect to ``address``."""
    return refusal(address) is None


def refused_host(url: str) -> Refused | None:
    """The first address ``url``'s host resolves to that a webhook may not reach, or None
    when every one is allowed. A host that does not resolve now is not refused here: its
    delivery fails and is retried."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        refused = refusal(str(info[4][0]))
        if refused:
            return refused
    return None


def refused_address(url: str) -> str:
    """``refused_host`` as text: the address (and what it carries), or "" when allowed."""
    return str(refused_host(url) or "")


def refusal_message(url: str, refused: Refused) -> str:
    """The form error for a URL whose host is refused, naming each address once."""
    host = urlsplit(url).hostname or ""
    try:
        literal = str(ipaddress.ip_address(host.split("%", 1)[0])) == refused.address
    except ValueError:
        literal = False
    tail = _(
        "Webhooks reach such addresses only when ZHIMA_WEBHOOK_PRIVATE_NETWORKS includes them."
    )
    values = {"host": host, "ip": refused.address, "v4": refused.carried}
    if literal and refused.carried:
        what = _("%(ip)s carries the IPv4 address %(v4)s, a loopback, private or reserved address.")
    elif literal:
        what = _("%(ip)s is a loopback, private or reserved address.")
    elif refused.carried:
        what = _(
            "%(host)s is %(ip)s, which carries the IPv4 address %(v4)s, a loopback, private or "
            "reserved address."
        )
    else:
        what = _("%(host)s is %(ip)s, a loopback, private or reserved address.")
    return f"{what % values} {tail}"


class AddressRefused(NewConnectionError):
    """The connection reached an address webhooks may not reach; nothing was sent."""

    def __init__(self, conn, address: str) -> None:
        self.address = address
        super().__init__(conn, f"refused: {address} {REFUSED}")


def refused_by_connection(exc: BaseException) -> str:
    """The address behind a ``requests`` error raised by ``AddressRefused``, or ""."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return reason.address if isinstance(reason, AddressRefused) else ""


class _Checked:
    """A connection that refuses a peer address webhooks may not reach, before sending."""

    def _new_conn(self):
        sock = super()._new_conn()  # type: ignore[misc]
        refused = refusal(sock.getpeername()[0])
        if refused:
            sock.close()
            raise AddressRefused(self, str(refused))
        return sock


class _HTTPConnection(_Checked, HTTPConnection):
    pass


class _HTTPSConnection(_Checked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxy or netrc from the environment: the URL is what is called
    s.mount("http://", _Adapter())
    s.mount("https://", _Adapter())
    return s
