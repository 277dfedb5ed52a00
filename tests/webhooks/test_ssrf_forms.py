"""IPv6 forms that carry an IPv4 address are judged by the address they carry, and the ranges
no webhook belongs in (multicast, site-local, reserved, unspecified) are refused: at
registration (service, page, command), by ``refused_address`` and by the connection check."""

from __future__ import annotations

import html
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from leases.webhooks import delivery as webhooks
from leases.webhooks.guard import allowed, refused_address
from leases.webhooks.models import Webhook

from .conftest import SECRET

# (the URL's host, the address refused, the IPv4 address it carries)
CARRIERS = [
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64
    ("[64:ff9b::a00:1]", "64:ff9b::a00:1", "10.0.0.1"),
    ("[64:ff9b:1::a9fe:a9fe]", "64:ff9b:1::a9fe:a9fe", "169.254.169.254"),  # local-use, /96
    ("[64:ff9b:1:a00:0:100::]", "64:ff9b:1:a00:0:100::", "10.0.0.1"),  # local-use, /48
    ("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe::", "169.254.169.254"),  # 6to4
    ("[2002:7f00:1::1]", "2002:7f00:1::1", "127.0.0.1"),
    # Teredo: server 65.54.227.120, client 10.0.0.1 (stored inverted)
    ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),
    # Teredo: server 10.0.0.1, client 93.184.216.34
    ("[2001:0:a00:1:8000:63bf:a247:27dd]", "2001:0:a00:1:8000:63bf:a247:27dd", "10.0.0.1"),
    ("[::7f00:1]", "::7f00:1", "127.0.0.1"),  # IPv4-compatible
    ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1", "127.0.0.1"),  # IPv4-translated
]

# (the URL's host, the address refused): refused as they are
RANGES = [
    ("224.0.0.1", "224.0.0.1"),  # multicast
    ("239.255.255.250", "239.255.255.250"),
    ("[ff02::1]", "ff02::1"),
    ("[ff0e::1]", "ff0e::1"),
    ("[fec0::1]", "fec0::1"),  # site-local
    ("240.0.0.1", "240.0.0.1"),  # reserved
    ("[100::1]", "100::1"),
    ("[::]", "::"),  # unspecified
    ("[::1:2:3:4]", "::1:2:3:4"),  # reserved (::/8), not an IPv4 form
]

PUBLIC = [
    "93.184.216.34",
    "[2606:2800:220:1:248:1893:25c8:1946]",
    "[::ffff:93.184.216.34]",
    "[64:ff9b::5db8:d822]",  # NAT64 of 93.184.216.34, as DNS64 answers on an IPv6-only host
    "[64:ff9b:1::5db8:d822]",
    "[2002:5db8:d822::1]",
    "[2001:0:4136:e378:8000:63bf:a247:27dd]",  # Teredo, both ends public
]


@pytest.fixture
def public_only(settings):
    settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = []
    return settings


def _plain(host: str) -> str:
    return host.strip("[]")


@pytest.mark.parametrize(("host", "address", "carried"), CARRIERS)
def test_an_ipv6_form_carrying_a_private_ipv4_is_refused(public_only, host, address, carried):
    refused = refused_address(f"http://{host}/h")
    assert address in refused and carried in refused
    assert not allowed(address)


@pytest.mark.parametrize(("host", "address"), RANGES)
def test_multicast_site_local_reserved_and_unspecified_are_refused(public_only, host, address):
    assert refused_address(f"http://{host}/h") == address
    assert not allowed(address)


@pytest.mark.parametrize("host", PUBLIC)
def test_a_public_address_passes_in_every_form(public_only, host):
    assert refused_address(f"http://{host}/h") == ""
    assert allowed(_plain(host))


@pytest.mark.parametrize(("host", "address", "carried"), CARRIERS)
def test_registration_names_the_carried_address_once(account, public_only, host, address, carried):
    with pytest.raises(ValidationError) as exc:
        webhooks.add_webhook(account, f"http://{host}/h", [], SECRET)
    (message,) = exc.value.messages
    assert message.startswith(f"{address} carries the IPv4 address {carried}, ")
    assert message.count(address) == 1 and "ZHIMA_WEBHOOK_PRIVATE_NETWORKS" in message
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(("host", "address"), RANGES)
def test_registration_of_an_address_says_it_once(account, public_only, host, address):
    with pytest.raises(ValidationError) as exc:
        webhooks.add_webhook(account, f"http://{host}/h", [], SECRET)
    (message,) = exc.value.messages
    assert message.startswith(f"{address} is a loopback, private or reserved address")
    assert message.count(address) == 1


def test_the_page_and_the_command_show_the_error_once(as_, account, public_only):
    r = as_("owner").post(
        reverse("leases-webhooks", args=[account.pk]),
        {"url": "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "events": ["lease.ended"]},
    )
    body = html.unescape(r.content.decode())
    assert r.status_code == 400
    assert body.count("carries the IPv4 address 169.254.169.254") == 1
    with pytest.raises(CommandError, match=r"^::7f00:1 carries the IPv4 address 127\.0\.0\.1, "):
        call_command("webhook", "add", account.name, "http://[::7f00:1]:8000/", stdout=StringIO())
    assert not Webhook.objects.exists()


def test_a_name_resolving_to_a_carrier_names_both(account, public_only, monkeypatch):
    """DNS64 answers for a name whose IPv4 address is private."""
    import socket

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a00:1", 0, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(ValidationError) as exc:
        webhooks.add_webhook(account, "https://hooks.example.com/h", [], SECRET)
    (message,) = exc.value.messages
    assert message.startswith(
        "hooks.example.com is 64:ff9b::a00:1, which carries the IPv4 address 10.0.0.1, "
    )


def test_an_allowed_network_still_opens_what_it_names(account, public_only):
    public_only.ZHIMA_WEBHOOK_PRIVATE_NETWORKS = ["10.0.0.0/8", "fec0::/10"]
    webhooks.add_webhook(account, "http://10.1.2.3/h", [], SECRET)
    webhooks.add_webhook(account, "http://[64:ff9b::a00:1]/h", [], SECRET)  # carries 10.0.0.1
    webhooks.add_webhook(account, "http://[fec0::1]/h", [], SECRET)
    for refused in ("http://[64:ff9b::a9fe:a9fe]/h", "http://[ff02::1]/h", "http://224.0.0.1/h"):
        with pytest.raises(ValidationError):
            webhooks.add_webhook(account, refused, [], SECRET)
    assert Webhook.objects.count() == 3
