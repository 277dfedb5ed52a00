"""Text from outside is shown as text: bidirectional control characters in SMS
text, item names and upstream messages are made visible and isolated in <bdi>."""

import pytest
from django.urls import reverse

from accounts.models import ApiCall
from leases import services
from leases.models import Item, Lease, Message

RLO = "\u202e"
SMS = f"Your code is 1234 {RLO}9876 si edoc ruoY"
NAME = f"Bank{RLO}gnp.exe"
CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.fixture
def evil(personas, items, sim, account):
    req = services.lease_numbers(personas["member"], items["1001"], key="b" * 32)
    lease = Lease.objects.get(request=req)
    Message.objects.create(
        lease=lease, direction=Message.Direction.RECEIVED, text=SMS, digest="d1", code="1234"
    )
    Message.objects.create(
        lease=lease, direction=Message.Direction.SENT, text=SMS, digest="d2", status="ok"
    )
    Item.objects.filter(pk=items["1001"].pk).update(name=NAME)
    Lease.objects.filter(pk=lease.pk).update(end_reason=f"upstream: {RLO}deliver")
    ApiCall.objects.create(
        account=account, actor="member", endpoint="get_sms", outcome="ok", msg=f"ok {RLO}kcab"
    )
    return lease


def _page(client, url):
    r = client.get(url)
    assert r.status_code == 200
    return r.content.decode()


@pytest.mark.parametrize(
    "name",
    ["leases-detail", "leases-active", "leases-history", "leases-overview", "accounts-audit"],
)
def test_no_raw_bidi_control_reaches_a_page(client, personas, evil, name):
    client.force_login(personas["member"])
    url = reverse(name, args=[evil.pk]) if name == "leases-detail" else reverse(name)
    body = _page(client, url)
    assert not any(c in body for c in CONTROLS), name
    assert "[U+202E]" in body and "<bdi>" in body, name


def test_the_sms_text_is_isolated_and_visible(client, personas, evil):
    client.force_login(personas["member"])
    body = _page(client, reverse("leases-detail", args=[evil.pk]))
    assert "<bdi>Your code is 1234 [U+202E]9876 si edoc ruoY</bdi>" in body


def test_the_shown_filter_escapes_and_marks_every_control():
    from accounts.templatetags.shown import shown

    out = str(shown("<b>x</b>" + CONTROLS))
    assert out.startswith("<bdi>&lt;b&gt;x&lt;/b&gt;") and out.endswith("</bdi>")
    assert not any(c in out for c in CONTROLS) and out.count("[U+") == len(CONTROLS)
