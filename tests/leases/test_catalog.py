"""The catalogue's refresh over HTTP: what it stores for each item of the simulator."""

from django.forms.models import model_to_dict

from accounts.audit import CallContext
from leases.catalog import refresh_item
from leases.models import Item


def test_a_refresh_over_http_stores_what_the_items_fixture_stores(items, sim):
    """The ``items`` fixture skips the round trip; the refresh stores the same rows."""
    fields = ["item_id", "name", "status", "msg", "price_raw", "tiers", "type"]
    built = {i: model_to_dict(item, fields) for i, item in items.items()}
    Item.objects.all().delete()
    ctx = CallContext.for_task("test")
    account = next(iter(items.values())).account
    refreshed = {i: model_to_dict(refresh_item(account, i, ctx), fields) for i in built}
    assert refreshed == built
    assert sim.stats()["requests"]["details"] == len(built)
    assert {b["type"] for b in built.values()} == {1, 2, 3, 4, 5, 6}
    assert built["1007"]["msg"] == "项目已过期" and built["1005"]["tiers"]
