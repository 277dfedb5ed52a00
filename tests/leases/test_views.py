"""Views: login, membership and role, wrong method, bad ids, HTMX fragments, 204 and 286."""

import re

import pytest
from django.urls import reverse

from accounts.models import ApiCall
from leases import services
from leases.models import Lease, LeaseState, Message

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lease(personas, items):
    req = services.lease_numbers(personas["member"], items["1003"], key="v" * 32)
    return Lease.objects.get(request=req)


PAGES = [
    "leases-overview",
    "leases-new",
    "leases-active",
    "leases-history",
    "leases-spend",
    "leases-items",
    "accounts-audit",
    "leases-history-csv",
    "accounts-audit-csv",
]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_requires_login(client, db, name):
    r = client.get(reverse(name))
    assert r.status_code == 302 and r["Location"].startswith("/login/")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_a_member(as_, lease, name):
    r = as_("viewer").get(reverse(name))
    assert r.status_code == 200
    if not name.endswith("csv"):
        assert "Content-Security-Policy" in r.headers


LEASE_URLS = [
    "leases-detail",
    "leases-release",
    "leases-blacklist",
    "leases-send",
    "leases-send-status",
    "leases-keep-waiting",
]


@pytest.mark.parametrize("name", LEASE_URLS)
def test_an_outsider_gets_404_for_a_lease(as_, lease, name):
    c = as_("outsider")
    url = reverse(name, args=[lease.pk])
    method = c.get if name == "leases-detail" else c.post
    assert method(url).status_code == 404
    assert c.get(url).status_code in (404, 405)


@pytest.mark.parametrize("name", LEASE_URLS)
@pytest.mark.parametrize("bad", ["999999", "abc", "-1", "1e3"])
def test_a_bad_id_is_404(as_, lease, name, bad):
    c = as_("member")
    method = c.get if name == "leases-detail" else c.post
    path = reverse(name, args=[1]).replace("/1/", f"/{bad}/")  # <int:pk> reverses no "abc"
    assert method(path).status_code == 404


@pytest.mark.parametrize(
    "name", ["leases-release", "leases-send", "leases-send-status", "leases-keep-waiting"]
)
def test_actions_reject_get(as_, lease, name):
    assert as_("member").get(reverse(name, args=[lease.pk])).status_code == 405


@pytest.mark.parametrize("name", ["leases-release", "leases-blacklist", "leases-send"])
def test_a_viewer_may_not_act(as_, lease, name, sim):
    r = as_("viewer").post(reverse(name, args=[lease.pk]), {"text": "x"})
    assert r.status_code == 403
    assert sim.leases()  # still held


def test_the_lease_page_shows_the_code_when_it_arrives(as_, lease, sim, settings):
    settings.ZHIMA_POLL_INTERVAL = 0.1
    c = as_("member")
    url = reverse("leases-detail", args=[lease.pk])
    page = c.get(url)
    assert "Waiting for the SMS" in page.content.decode()
    assert c.get(url + f"?v={lease.version}", **HX).status_code == 204
    sim.deliver(lease.phone, "【抖音】验证码 551234，5分钟内有效")
    from leases.poller import Poller

    Lease.objects.filter(pk=lease.pk).update(next_poll_at=lease.leased_at)
    Poller(run_seconds=0.5).run()
    frag = c.get(url + f"?v={lease.version}", **HX)
    assert frag.status_code == 200
    body = frag.content.decode()
    assert "<html" not in body and "551234" in body and 'data-copy="551234"' in body


def test_a_finished_lease_stops_polling_with_286(as_, lease, sim):
    c = as_("member")
    c.post(reverse("leases-release", args=[lease.pk]))
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED
    frag = c.get(reverse("leases-detail", args=[lease.pk]) + f"?v={lease.version}", **HX)
    assert frag.status_code == 286
    assert "data-poll" not in frag.content.decode()


def test_the_lease_form_leases_once_and_redirects(as_, items, sim):
    c = as_("member")
    page = c.get(reverse("leases-new"))
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page.content.decode()).group(1)
    data = {"item": items["1001"].pk, "quantity": 1, "key": key}
    r1 = c.post(reverse("leases-new"), data)
    r2 = c.post(reverse("leases-new"), data)
    assert r1.status_code == 302 and r1["Location"].startswith("/leases/")
    assert r2.status_code == 302
    assert sim.stats()["requests"]["get_numbers"] == 1
    assert Lease.objects.count() == 1


def test_the_lease_form_shows_errors_inline(as_, items, sim):
    c = as_("member")
    r = c.post(
        reverse("leases-new"),
        {"item": items["1001"].pk, "quantity": 5, "key": "a" * 32, "area_code": "x1"},
        **HX,
    )
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert "1 number per request" in body and "2 to 6 digits" in body
    r = c.post(reverse("leases-new"), {"item": items["1007"].pk, "quantity": 1, "key": "b" * 32})
    assert "项目已过期" in r.content.decode()
    r = c.post(reverse("leases-new"), {"item": "nope", "quantity": "many", "key": "zz"})
    assert r.status_code == 200 and "Select a valid choice" in r.content.decode()
    assert "get_numbers" not in sim.stats()["requests"]


def test_the_upstream_msg_is_shown_verbatim(as_, items, sim):
    sim.state.pool = sim.state.pool[:1]
    c = as_("member")
    r = c.post(
        reverse("leases-new"), {"item": items["1002"].pk, "quantity": 5, "key": "c" * 32}, **HX
    )
    assert "号码余量不足" in r.content.decode()


def test_item_info_fragment_shows_tiers_and_capabilities(as_, items):
    r = as_("member").get(reverse("leases-item-info") + f"?item={items['1005'].pk}", **HX)
    body = r.content.decode()
    assert "0.35" in body and "sends and receives several SMS" in body
    assert (
        as_("outsider")
        .get(reverse("leases-item-info") + f"?item={items['1005'].pk}")
        .content.decode()
        .count("0.35")
        == 0
    )
    assert as_("member").get(reverse("leases-item-info") + "?item=x").status_code == 200


def test_blacklist_asks_for_confirmation_first(as_, lease, sim):
    c = as_("member")
    confirm = c.get(reverse("leases-blacklist", args=[lease.pk]))
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert sim.stats()["blacklisted"] == 0
    c.post(reverse("leases-blacklist", args=[lease.pk]))
    lease.refresh_from_db()
    assert lease.state == LeaseState.BLOCKED and sim.stats()["blacklisted"] == 1


def send_key(client, lease):
    """The send form's key, as the lease page renders it."""
    page = client.get(reverse("leases-detail", args=[lease.pk])).content.decode()
    return re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)


def test_send_and_delivery_status(as_, lease, sim):
    c = as_("member")
    key = send_key(c, lease)
    r = c.post(reverse("leases-send", args=[lease.pk]), {"text": "  ", "key": key}, follow=True)
    assert "must not be empty" in r.content.decode()
    c.post(reverse("leases-send", args=[lease.pk]), {"text": "hello there", "key": key})
    assert Message.objects.get(direction="out").text == "hello there"
    r = c.post(reverse("leases-send-status", args=[lease.pk]), follow=True)
    assert "发送中" in r.content.decode()


@pytest.mark.backend
def test_a_double_submit_of_the_send_form_sends_once(as_, personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1004"], key="w" * 32)
    lease = Lease.objects.get(request=req)
    c = as_("member")
    key = send_key(c, lease)
    for _ in range(2):
        r = c.post(reverse("leases-send", args=[lease.pk]), {"text": "hi", "key": key}, follow=True)
        assert "SMS sent." in r.content.decode()
    assert sim.stats()["requests"]["send_sms"] == 1
    assert send_key(c, lease) != key  # the page offers a new submission
    c.post(reverse("leases-send", args=[lease.pk]), {"text": "hi", "key": send_key(c, lease)})
    assert sim.stats()["requests"]["send_sms"] == 2
    r = c.post(reverse("leases-send", args=[lease.pk]), {"text": "hi"}, follow=True)
    assert "form expired" in r.content.decode() and sim.stats()["requests"]["send_sms"] == 2


def test_release_selected_and_release_all(as_, personas, items, sim, account):
    services.lease_numbers(personas["member"], items["1002"], key="d" * 32, quantity=3)
    ids = list(Lease.objects.values_list("pk", flat=True))
    c = as_("member")
    c.post(reverse("leases-release-selected"), {"lease": [*ids[:2], "x"]})
    assert Lease.objects.filter(state="released").count() == 2
    assert c.get(reverse("leases-release-all", args=[account.pk])).status_code == 403
    o = as_("owner")
    assert o.get(reverse("leases-release-all", args=[account.pk])).status_code == 200
    o.post(reverse("leases-release-all", args=[account.pk]))
    assert Lease.objects.filter(state="released").count() == 3
    assert as_("outsider").post(reverse("leases-release-all", args=[account.pk])).status_code == 404


def test_live_lists_answer_204_when_nothing_changed(as_, lease):
    c = as_("member")
    for name in ("leases-overview", "leases-active"):
        frag = c.get(reverse(name), **HX)
        mark = re.search(r"\?v=([\d-]+)", frag.content.decode()).group(1)
        assert c.get(reverse(name) + f"?v={mark}", **HX).status_code == 204
        assert lease.phone in frag.content.decode()


def test_history_filters_search_and_csv(as_, personas, items, lease, sim):
    c = as_("viewer")
    assert (
        lease.phone in c.get(reverse("leases-history") + f"?q={lease.phone[:7]}").content.decode()
    )
    assert lease.phone not in c.get(reverse("leases-history") + "?state=blocked").content.decode()
    assert c.get(reverse("leases-history") + "?since=bad&account=999").status_code == 200
    csv = b"".join(c.get(reverse("leases-history-csv")).streaming_content).decode()
    assert lease.phone in csv and csv.startswith("\ufeffleased_at")
    assert lease.phone not in as_("outsider").get(reverse("leases-history")).content.decode()


def test_audit_log_filters_raw_body_and_csv(as_, lease):
    c = as_("viewer")
    page = c.get(reverse("accounts-audit") + "?endpoint=get_numbers")
    assert "get_numbers" in page.content.decode()
    call = ApiCall.objects.get(endpoint="get_numbers")
    raw = c.get(reverse("accounts-audit-raw", args=[call.pk]), **HX)
    assert lease.phone in raw.content.decode()
    csv = b"".join(c.get(reverse("accounts-audit-csv")).streaming_content).decode()
    assert "get_numbers" in csv and "demo-pkey" not in csv
    assert as_("outsider").get(reverse("accounts-audit-raw", args=[call.pk])).status_code == 404


@pytest.mark.backend
def test_history_pages_with_a_cursor(as_, personas, items, sim):
    for i in range(6):
        services.lease_numbers(personas["member"], items["1002"], key=f"{i}" * 32, quantity=10)
    c = as_("viewer")
    first = c.get(reverse("leases-history")).content.decode()
    cursor = re.search(r"cursor=([\d.]+)", first).group(1)
    second = c.get(reverse("leases-history") + f"?cursor={cursor}").content.decode()
    phones = set(Lease.objects.values_list("phone", flat=True))
    shown = {p for p in phones if p in first} | {p for p in phones if p in second}
    assert shown == phones
    assert c.get(reverse("leases-history") + "?cursor=garbage").status_code == 200


def test_items_refresh_and_add(as_, items, sim):
    c = as_("member")
    r = c.post(reverse("leases-item-refresh", args=[items["1001"].pk]), follow=True)
    assert "refreshed" in r.content.decode()
    r = c.post(
        reverse("leases-item-add"),
        {"account": items["1001"].account_id, "item_id": "abc"},
        follow=True,
    )
    assert "digits only" in r.content.decode()
    r = c.post(
        reverse("leases-item-add"),
        {"account": items["1001"].account_id, "item_id": "1008"},
        follow=True,
    )
    assert "1008" in r.content.decode()
    assert (
        as_("viewer").post(reverse("leases-item-refresh", args=[items["1001"].pk])).status_code
        == 403
    )


@pytest.mark.backend
def test_pages_use_a_bounded_number_of_queries(
    as_, personas, items, sim, django_assert_max_num_queries
):
    for i in range(4):
        services.lease_numbers(
            personas["member"], items["1002"], key=f"q{i}".ljust(32, "0"), quantity=10
        )
    c = as_("member")
    for name in (
        "leases-overview",
        "leases-active",
        "leases-history",
        "accounts-audit",
        "leases-spend",
        "leases-items",
    ):
        with django_assert_max_num_queries(15):
            assert c.get(reverse(name)).status_code == 200


@pytest.mark.backend
def test_query_counts_do_not_grow_with_the_data(
    as_, personas, items, sim, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = as_("member")
    names = ("leases-overview", "leases-active", "leases-history", "accounts-audit")

    def counts():
        out = {}
        for name in names:
            with CaptureQueriesContext(connection) as ctx:
                c.get(reverse(name))
            out[name] = len(ctx)
        return out

    services.lease_numbers(personas["member"], items["1002"], key="s" * 32, quantity=2)
    small = counts()
    for i in range(5):
        services.lease_numbers(
            personas["member"], items["1002"], key=f"l{i}".ljust(32, "0"), quantity=10
        )
    assert counts() == small
