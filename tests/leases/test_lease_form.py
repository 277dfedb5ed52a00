"""The lease form that helps: the member's last item, the price, budgets and quota before
submitting, unusable items disabled with the reason, "lease another like this", errors that
say what became of the money; adding and retiring items."""

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.audit import CallContext
from accounts.models import Membership
from accounts.quota import refresh_quota
from leases import catalog, phones, services
from leases.errors import ServiceError
from leases.models import Item, Lease, LeaseRequest

HX = {"HTTP_HX_REQUEST": "true"}


def option(body: str, item: Item) -> str:
    return re.search(rf'<option value="{item.pk}"[^>]*>[^<]*</option>', body).group(0)


def key_of(body: str) -> str:
    return re.search(r'name="key" value="([0-9a-f]{32})"', body).group(1)


def test_it_remembers_the_members_last_item(as_, personas, items, sim):
    body = as_("member").get(reverse("leases-new")).content.decode()
    assert "selected" not in option(body, items["1003"])
    services.lease_numbers(personas["member"], items["1003"], key="l" * 32)
    body = as_("member").get(reverse("leases-new")).content.decode()
    assert "selected" in option(body, items["1003"])
    assert "selected" not in option(body, items["1001"])
    # The side panel is filled in for it at once.
    assert "1003" in re.search(r'<aside id="item-info".*?</aside>', body, re.S).group(0)
    # Another member's last item is not this member's.
    assert "selected" not in option(
        as_("owner").get(reverse("leases-new")).content.decode(), items["1003"]
    )


def test_the_remembered_item_is_one_that_can_be_leased(as_, personas, items, account, sim):
    services.lease_numbers(personas["member"], items["1001"], key="m" * 32)
    services.lease_numbers(personas["member"], items["1003"], key="n" * 32)
    catalog.set_retired(items["1003"], True)
    body = as_("member").get(reverse("leases-new")).content.decode()
    assert "selected" in option(body, items["1001"])


def test_several_numbers_land_on_the_requests_board_or_the_active_list(as_, items, sim):
    from django.urls import NoReverseMatch

    data = {"item": items["1002"].pk, "quantity": 3, "key": "b" * 32}
    r = as_("member").post(reverse("leases-new"), data)
    req = LeaseRequest.objects.get(key="b" * 32)
    try:
        want = reverse("leases-board", args=[req.pk])
    except NoReverseMatch:
        want = reverse("leases-active")
    assert r.status_code == 302 and r["Location"] == want
    assert Lease.objects.filter(request=req).count() == 3


def test_it_shows_price_budgets_and_quota_before_submitting(as_, personas, items, sim, account):
    m = Membership.objects.get(user=personas["member"])
    m.daily_budget, m.monthly_budget = Decimal("1"), None
    m.save()
    refresh_quota(account, CallContext.for_task("test"))  # 1000
    services.lease_numbers(personas["member"], items["1002"], key="p" * 32, quantity=2)  # 0.4
    url = reverse("leases-item-info") + f"?item={items['1005'].pk}&quantity=3"
    body = as_("member").get(url, **HX).content.decode()
    assert "<html" not in body
    assert 'id="quote-total">≈ 1.50<' in body  # 3 × 0.5 from the tiers
    assert "0.50 + 0.50 + 0.50" in body
    assert "0.60" in body and "/ 1.00" in body  # daily budget left: 1 − 0.4
    assert "no limit" in body  # monthly
    assert "≈ 999.60" in body and "≈ 998.10" in body  # quota now and after
    assert "exceed your budget" in body
    ok = as_("member").get(reverse("leases-item-info") + f"?item={items['1005'].pk}&quantity=1")
    assert "exceed your budget" not in ok.content.decode()
    # A bad quantity is a quantity of one, never a 500.
    bad = as_("member").get(reverse("leases-item-info") + f"?item={items['1005'].pk}&quantity=x")
    assert bad.status_code == 200 and 'id="quote-total">≈ 0.50<' in bad.content.decode()


@pytest.mark.parametrize(
    ("item", "asked", "shown"),
    [("1005", 10000, "Price of 10 numbers"), ("1001", 3, "Price of 1 number")],
)
def test_the_price_preview_says_why_it_prices_fewer_numbers(as_, items, item, asked, shown):
    url = reverse("leases-item-info") + f"?item={items[item].pk}&quantity={asked}"
    body = as_("member").get(url, **HX).content.decode()
    assert shown in body
    limit = shown.split()[2]
    assert f"You asked for {asked}: one request of this item leases at most {limit} number" in body
    exact = reverse("leases-item-info") + f"?item={items[item].pk}&quantity={limit}"
    assert "You asked for" not in as_("member").get(exact, **HX).content.decode()


def test_amounts_have_one_format_per_language(as_, personas, items, sim, account):
    refresh_quota(account, CallContext.for_task("test"))
    url = reverse("leases-item-info") + f"?item={items['1001'].pk}&quantity=1"
    c = as_("member")
    body = c.get(url, **HX).content.decode()
    amounts = re.findall(r"≈ ([\d,.]+)", body)
    assert amounts and all(re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2,4}", a) for a in amounts), amounts
    assert "0.1500" not in body and "≈ 1,000.00<" in body  # grouped in English
    c.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "≈ 1000.00<" in c.get(url, **HX).content.decode()  # not in Chinese
    c.post(reverse("set_language"), {"language": "en", "next": "/"})
    req = services.lease_numbers(personas["member"], items["1001"], key="m" * 32)
    lease = Lease.objects.get(request=req)
    page = c.get(reverse("leases-detail", args=[lease.pk])).content.decode()
    assert f"estimated cost {lease.cost:.2f} ·" in page  # 0.5000 → 0.50
    # The number reads grouped as in the lists.
    groups = "".join(f"<span>{g}</span>" for g in phones.parts(lease.phone))
    assert f'<h1><span class="mono num">{groups}</span>' in page


def test_expired_and_abnormal_items_are_disabled_with_the_reason(as_, items, account, sim):
    abnormal = catalog.refresh_item(account, "1008", CallContext.for_task("test"))
    body = as_("member").get(reverse("leases-new")).content.decode()
    assert "disabled" in option(body, items["1007"]) and "项目已过期" in option(body, items["1007"])
    assert "disabled" in option(body, abnormal) and "项目异常" in option(body, abnormal)
    assert "disabled" not in option(body, items["1001"])
    r = as_("member").post(
        reverse("leases-new"), {"item": abnormal.pk, "quantity": 1, "key": "e" * 32}
    )
    assert "项目异常" in r.content.decode() and "get_numbers" not in sim.stats()["requests"]


def test_a_lost_lease_offers_another_like_this(as_, personas, items, sim):
    req = services.lease_numbers(
        personas["member"], items["1003"], key="a" * 32, carrier="1", area_code="0755"
    )
    lease = Lease.objects.get(request=req)
    c = as_("member")
    url = reverse("leases-new") + f"?again={lease.pk}"
    assert url not in c.get(reverse("leases-detail", args=[lease.pk])).content.decode()
    services.release(personas["member"], [lease])  # finished without a code
    assert url in c.get(reverse("leases-detail", args=[lease.pk])).content.decode()
    body = c.get(url).content.decode()
    assert "selected" in option(body, items["1003"])
    assert 'value="0755"' in body and re.search(r'<option value="1" selected>', body)
    assert key_of(body) != req.key  # a new request, never the old key
    r = c.post(
        reverse("leases-new"),
        {
            "item": items["1003"].pk,
            "quantity": 1,
            "carrier": "1",
            "area_code": "0755",
            "key": key_of(body),
        },
    )
    assert r.status_code == 302 and Lease.objects.count() == 2
    assert as_("outsider").get(url).status_code == 404
    assert as_("member").get(reverse("leases-new") + "?again=nope").status_code == 404


def test_an_ended_lease_page_drops_what_only_a_held_number_needs(as_, personas, items, sim):
    """After the number ended (here released with its code): no auto-release deadline, no
    sound opt-in, and "lease another like this" is offered with the code still shown."""
    req = services.lease_numbers(personas["member"], items["1003"], key="f" * 32)
    lease = Lease.objects.get(request=req)
    c = as_("member")
    page = reverse("leases-detail", args=[lease.pk])
    body = c.get(page).content.decode()
    assert "Auto-release before" in body and 'id="notify-toggle"' in body
    Lease.objects.filter(pk=lease.pk).update(code="736251")
    services.release(personas["member"], [lease])
    body = c.get(page).content.decode()
    assert "736251" in body and f"?again={lease.pk}" in body
    assert "Auto-release before" not in body and 'id="notify-toggle"' not in body
    assert "Ended at" in body


def test_a_failed_request_keeps_the_form_with_a_new_key(as_, items, sim):
    sim.state.pool = sim.state.pool[:1]
    c = as_("member")
    data = {"item": items["1002"].pk, "quantity": 5, "key": "f" * 32}
    body = c.post(reverse("leases-new"), data, **HX).content.decode()
    assert "Refused:" in body and "号码余量不足" in body
    assert "No number was leased" in body
    assert key_of(body) != "f" * 32 and 'value="5"' in body
    assert "selected" in option(body, items["1002"])


def test_an_unclear_answer_says_a_number_may_have_been_leased(as_, items, sim):
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    r = as_("member").post(
        reverse("leases-new"), {"item": items["1001"].pk, "quantity": 1, "key": "c" * 32}, **HX
    )
    body = r.content.decode()
    assert r.status_code == 200 and "Timed out:" in body
    assert "did not answer within 2 seconds" in body
    assert "A number may have been leased and charged" in body
    assert sim.stats()["requests"]["get_numbers"] == 1
    assert LeaseRequest.objects.get(key="c" * 32).outcome == LeaseRequest.Outcome.AMBIGUOUS


@pytest.mark.parametrize(
    ("knobs", "heading"),
    [
        ({"error_rate": 1.0}, "HTTP error:"),
        ({"garbage_rate": 1.0, "seed": 3}, "Unreadable answer:"),
    ],
)
def test_the_error_heading_names_the_kind_that_happened(as_, items, sim, knobs, heading):
    sim.config(fault_endpoints="get_numbers", **knobs)
    data = {"item": items["1001"].pk, "quantity": 1, "key": uuid.uuid4().hex}
    body = as_("member").post(reverse("leases-new"), data, **HX).content.decode()
    (shown,) = re.findall(r'<p class="error"><strong>([^<]*)</strong>', body)
    assert shown == heading
    assert "A number may have been leased and charged" in body


def test_an_unreadable_answer_is_named(as_, items, sim):
    sim.config(garbage_rate=1.0, fault_endpoints="get_numbers", seed=3)
    body = (
        as_("member")
        .post(
            reverse("leases-new"), {"item": items["1001"].pk, "quantity": 1, "key": "d" * 32}, **HX
        )
        .content.decode()
    )
    assert "A number may have been leased" in body
    assert "Unreadable answer" in body or "HTTP 500" in body or "could not be read" in body


# -- items: add, retire ---------------------------------------------------------------------


def test_adding_an_item_the_upstream_refuses_saves_nothing(as_, items, account, sim):
    before = Item.objects.count()
    r = as_("member").post(
        reverse("leases-item-add"), {"account": account.pk, "item_id": "9999"}, follow=True
    )
    body = r.content.decode()
    assert "项目编号不存在" in body and "nothing was added" in body and "added:" not in body
    assert Item.objects.count() == before and not Item.objects.filter(item_id="9999").exists()
    r = as_("member").post(
        reverse("leases-item-add"), {"account": account.pk, "item_id": "1006"}, follow=True
    )
    assert "1006" in r.content.decode() and Item.objects.filter(item_id="1006").count() == 1


def test_a_manager_retires_an_item(as_, personas, items, sim):
    item = items["1003"]
    services.lease_numbers(personas["member"], item, key="h" * 32)
    url = reverse("leases-item-retire", args=[item.pk])
    assert as_("member").post(url).status_code == 403
    assert as_("outsider").post(url).status_code == 404
    assert as_("owner").get(url).status_code == 405
    assert (
        as_("owner").post(reverse("leases-item-retire", args=[1]).replace("/1/", "/x/")).status_code
        == 404
    )
    r = as_("owner").post(url, follow=True)
    assert "retired" in r.content.decode()
    item.refresh_from_db()
    assert item.retired_at is not None and not item.usable
    assert "1003 抖音" not in as_("member").get(reverse("leases-new")).content.decode()
    with pytest.raises(ServiceError, match="retired"):
        services.lease_numbers(personas["member"], item, key="i" * 32)
    r = as_("member").post(reverse("leases-new"), {"item": item.pk, "quantity": 1, "key": "0" * 32})
    assert "Select a valid choice" in r.content.decode()
    assert Lease.objects.filter(item=item).count() == 1  # the history stays
    as_("owner").post(url, {"retire": "0"})
    item.refresh_from_db()
    assert item.retired_at is None and item.usable
