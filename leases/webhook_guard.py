"""Where webhooks may post: public addresses only, unless ``ZHIMA_WEBHOOK_PRIVATE_NETWORKS``
names the loopback, private or reserved networks they may reach too (a CI runner on the
office LAN, a receiver on this host).

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
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from zhima_site.clientip import in_networks

REFUSED = "is not a public address"


def allowed(address: str) -> bool:
    """Whether a webhook may connect to ``address`` (an IPv6 scope id is ignored, an
    IPv4-mapped IPv6 address counts as its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return ip.is_global or in_networks(str(ip), settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS)


def refused_address(url: str) -> str:
    """The first address ``url``'s host resolves to that a webhook may not reach, or "" when
    every one is allowed. A host that does not resolve now is not refused here: its delivery
    fails and is retried."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ""
    for info in infos:
        address = str(info[4][0])
        if not allowed(address):
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            return str(getattr(ip, "ipv4_mapped", None) or ip)
    return ""


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
        peer = sock.getpeername()[0]
        if not allowed(peer):
            sock.close()
            raise AddressRefused(self, peer)
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
