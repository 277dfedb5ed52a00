"""An item that sends one SMS offers no second send once it was sent, and a refused send keeps
the typed text in the form."""

from __future__ import annotations

import uuid

from leases import services
from leases.models import Lease

SEND_FORM = 'action="/leases/{pk}/send/"'


def test_a_one_sms_item_offers_no_second_send(client, personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1003"], key="s" * 32)
    one = Lease.objects.get(request=req)
    client.force_login(personas["member"])
    page = client.get(f"/leases/{one.pk}/").content.decode()
    assert SEND_FORM.format(pk=one.pk) in page
    key = page.split('name="key" value="')[1].split('"')[0]
    client.post(f"/leases/{one.pk}/send/", {"text": "first", "key": key})
    page = client.get(f"/leases/{one.pk}/").content.decode()
    assert SEND_FORM.format(pk=one.pk) not in page
    assert "This item sends one SMS; it was sent." in page
    assert f'action="/leases/{one.pk}/send-status/"' in page

    # A tab opened before the send still has the form: the refusal keeps what was typed.
    r = client.post(f"/leases/{one.pk}/send/", {"text": "my long text", "key": uuid.uuid4().hex})
    assert r.status_code == 409
    html = r.content.decode()
    assert "This item can send one SMS only." in html
    assert "\nmy long text</textarea>" in html
    assert sim.stats()["requests"]["send_sms"] == 1
