"""Items: what the upstream says does not exist is never listed; adding a listed item says it
is already there."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.audit import CallContext
from leases import catalog
from leases.errors import ServiceError
from leases.models import Item


def test_an_item_the_upstream_does_not_know_gets_no_row(account, sim):
    with pytest.raises(ServiceError, match="项目编号不存在"):
        catalog.refresh_item(account, "9999", CallContext.for_task("test"))
    assert not Item.objects.filter(item_id="9999").exists()


def test_the_cli_leasing_an_unknown_item_lists_nothing(client, personas, account, items, sim):
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "zhima", "--dev-account", account.name, "get", "9999", stdout=StringIO(), stderr=err
        )
    assert "项目编号不存在" in err.getvalue()
    assert not Item.objects.filter(item_id="9999").exists()
    client.force_login(personas["member"])
    assert ">9999<" not in client.get("/items/").content.decode()
    assert 'value="9999"' not in client.get("/lease/new/").content.decode()


def test_a_listed_item_that_the_upstream_drops_keeps_its_row(account, items, sim):
    item = items["1001"]
    del sim.server.state.items["1001"]
    catalog.refresh_item(account, "1001", CallContext.for_task("test"))
    item.refresh_from_db()
    assert item.status == 3 and item.msg == "项目编号不存在"


def test_adding_an_item_already_there_says_so(client, personas, account, items, sim):
    client.force_login(personas["member"])
    r = client.post("/items/add/", {"account": account.pk, "item_id": "1001"}, follow=True)
    html = r.content.decode()
    assert "Item 1001 (" in html and "is already there; refreshed." in html
    assert "added" not in html
    r = client.post("/items/add/", {"account": account.pk, "item_id": "9999"}, follow=True)
    html = r.content.decode()
    assert "The upstream refused item 9999 (项目编号不存在); nothing was added." in html
    assert "Item 9999 added" not in html
