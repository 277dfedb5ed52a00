"""The API's endpoints against the live simulator: leasing, idempotency, roles, budgets,
tokens, rate limit, actions, teardown by tag, the schema and its reference page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openapi_spec_validator import validate

from accounts.models import ApiCall, ApiToken, Membership
from leases.models import Lease, LeaseEvent, LeaseRequest, LeaseState, Message


def lease(api, item="1001", key="k1", **body):
    r = api.post("/leases", {"item": item, **body}, key=key)
    assert r.status_code == 201, r.content
    return r.json()["leases"]


def test_items_lists_the_reachable_items_with_prices_and_capabilities(personas, items, api_for):
    r = api_for(personas["member"]).get("/items")
    assert r.status_code == 200
    by_id = {x["item"]: x for x in r.json()}
    assert set(by_id) == set(items)
    assert by_id["1005"]["capabilities"] == {
        "max_per_request": 10,
        "can_send": True,
        "sends_several": True,
        "several_sms": True,
    }
    assert by_id["1001"]["price_tiers"][0] == {"price": "0.1", "low": 1, "high": 10000}
    assert by_id["1007"]["usable"] is False
    # The outsider's token reaches its own account only, where no item was added.
    assert api_for(personas["outsider"]).get("/items").json() == []


@pytest.mark.backend
def test_a_lease_is_idempotent_per_token_key(personas, items, api_for, sim):
    api = api_for(personas["member"])
    first = lease(api, "1002", key="run-1", quantity=2, tag="ci-42")
    again = api.post("/leases", {"item": "1002", "quantity": 2, "tag": "ci-42"}, key="run-1")
    assert again.status_code == 201 and again.json()["leases"] == first
    assert sim.stats()["requests"]["get_numbers"] == 1
    assert Lease.objects.count() == 2
    assert {x["tag"] for x in first} == {"ci-42"} and first[0]["token"] == "ci"
    # A different body with the used key: 422, still no second call.
    r = api.post("/leases", {"item": "1002", "quantity": 3, "tag": "ci-42"}, key="run-1")
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
    # The same key from another token is another request.
    other = api_for(personas["member"], name="other")
    assert len(lease(other, "1002", key="run-1", quantity=2, tag="ci-42")) == 2
    assert sim.stats()["requests"]["get_numbers"] == 2


def test_a_lease_needs_an_idempotency_key(personas, items, api_for, sim):
    r = api_for(personas["member"]).post("/leases", {"item": "1001"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "idempotency_key_required"
    assert "get_numbers" not in sim.stats()["requests"]


def test_the_audit_log_names_the_member_and_the_token(personas, items, api_for):
    (one,) = lease(api_for(personas["member"], name="nightly"), tag="t")
    call = ApiCall.objects.get(endpoint="get_numbers")
    assert call.actor == "member · nightly" and call.user_id == personas["member"].pk
    row = Lease.objects.get(pk=one["id"])
    assert row.token.name == "nightly" and row.user == personas["member"]
    assert LeaseEvent.objects.get(lease=row, kind="leased").actor == "member · nightly"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"item": "1007"}, 409, "refused"),  # the upstream's msg verbatim
        ({"item": "1001", "quantity": 2}, 409, "refused"),
        ({"item": "9999"}, 404, "not_found"),
        ({"item": "1001", "account": "Nope"}, 404, "not_found"),
        ({"item": "1001", "quantity": 0}, 400, "invalid_request"),
        ({"item": "abc"}, 400, "invalid_request"),
        ({"item": "1001", "carrier": "9"}, 400, "invalid_request"),
    ],
)
def test_bad_lease_requests_are_clear_errors(personas, items, api_for, body, status, code):
    r = api_for(personas["member"]).post("/leases", body, key="bad")
    assert r.status_code == status, r.content
    assert r.json()["error"]["code"] == code
    if body == {"item": "1007"}:
        assert r.json()["error"]["message"] == "项目已过期"


def test_an_ambiguous_lease_is_a_502_and_never_repeated(personas, items, api_for, sim):
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    api = api_for(personas["member"])
    r = api.post("/leases", {"item": "1001"}, key="amb")
    assert r.status_code == 502 and r.json()["error"]["code"] == "ambiguous"
    assert "may have been leased" in r.json()["error"]["message"]
    again = api.post("/leases", {"item": "1001"}, key="amb")
    assert again.status_code == 502 and again.json()["error"]["code"] == "ambiguous"
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_a_viewer_token_cannot_lease(personas, items, api_for, sim):
    r = api_for(personas["viewer"]).post("/leases", {"item": "1001"}, key="v")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "get_numbers" not in sim.stats()["requests"]


def test_a_read_only_token_of_an_operator_cannot_lease_but_reads(personas, items, api_for):
    (one,) = lease(api_for(personas["member"]))
    ro = api_for(personas["member"], name="ro", read_only=True)
    r = ro.post("/leases", {"item": "1001"}, key="ro")
    assert r.status_code == 403
    assert ro.get(f"/leases/{one['id']}").status_code == 200
    assert ro.post(f"/leases/{one['id']}/release").status_code == 403


def test_a_token_limited_to_another_account_sees_nothing_here(personas, items, api_for):
    (one,) = lease(api_for(personas["owner"]))
    limited = api_for(personas["owner"], name="other-only", accounts=[personas["other"]])
    assert limited.get(f"/leases/{one['id']}").status_code == 404
    assert limited.get("/items").json() == []
    r = limited.post("/leases", {"item": "1001", "account": "Sandbox"}, key="x")
    assert r.status_code == 404
    # The outsider is no member of Sandbox at all.
    assert api_for(personas["outsider"]).get(f"/leases/{one['id']}").status_code == 404


@pytest.mark.backend
def test_budgets_apply_to_tokens(personas, items, api_for, sim):
    m = Membership.objects.get(user=personas["member"])
    m.daily_budget = Decimal("0.15")
    m.save()
    api = api_for(personas["member"])
    lease(api, key="b1")
    r = api.post("/leases", {"item": "1001"}, key="b2")
    assert r.status_code == 409 and "daily budget" in r.json()["error"]["message"]
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_missing_revoked_and_expired_tokens_are_401(personas, items, api_for, token):
    from tests.api.conftest import Api

    assert Api(None).get("/items").status_code == 401
    assert Api("zk_not-a-token").get("/items").status_code == 401
    raw = token(personas["member"], name="gone")
    assert Api(raw).get("/items").status_code == 200
    ApiToken.objects.filter(name="gone").update(revoked_at=timezone.now())
    r = Api(raw).get("/items")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r["WWW-Authenticate"] == "Bearer"
    old = token(personas["member"], name="old", expires_at=timezone.now() - timedelta(seconds=1))
    assert Api(old).get("/items").status_code == 401
    personas["member"].is_active = False
    personas["member"].save()
    assert Api(token(personas["member"], name="x")).get("/items").status_code == 401


def test_the_token_is_stored_hashed_and_its_use_recorded(personas, api_for, token):
    from tests.api.conftest import Api

    raw = token(personas["member"], name="h")
    row = ApiToken.objects.get(name="h")
    assert raw not in (row.digest, row.prefix) and raw.startswith(row.prefix)
    assert row.last_used_at is None
    Api(raw).get("/items")
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.backend
def test_lease_requests_are_rate_limited_per_token(personas, items, api_for, settings, sim):
    settings.ZHIMA_API_LEASES_PER_MINUTE = 2
    api = api_for(personas["member"])
    lease(api, key="r1")
    lease(api, key="r2")
    r = api.post("/leases", {"item": "1001"}, key="r3")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r["Retry-After"]) <= 60
    assert sim.stats()["requests"]["get_numbers"] == 2
    # Another token of the same member has its own allowance.
    lease(api_for(personas["member"], name="two"), key="r3")


def test_lease_detail_and_list_by_tag_and_state(personas, items, api_for):
    api = api_for(personas["member"])
    a = lease(api, "1002", key="a", quantity=2, tag="run-a")
    b = lease(api, "1001", key="b", tag="run-b")
    Message.objects.create(
        lease_id=a[0]["id"],
        direction="in",
        text="验证码 1234",
        digest="d",
        code="1234",
        candidates=["1234"],
    )
    r = api.get(f"/leases/{a[0]['id']}")
    assert r.status_code == 200
    body = r.json()
    assert body["tag"] == "run-a" and body["messages"][0]["code"] == "1234"
    assert body["messages"][0]["candidates"] == ["1234"]
    listed = api.get("/leases", tag="run-a").json()["leases"]
    assert {x["id"] for x in listed} == {x["id"] for x in a}
    assert [x["id"] for x in api.get("/leases", tag="run-b", state="waiting").json()["leases"]] == [
        b[0]["id"]
    ]
    assert api.get("/leases", tag="run-b", state="released").json()["leases"] == []
    assert api.get("/leases", state="bogus").status_code == 400
    assert api.get("/leases/999999").status_code == 404
    assert api.get("/leases/abc").status_code == 400


def test_teardown_by_tag_releases_only_that_runs_numbers(personas, items, api_for, sim):
    api = api_for(personas["member"])
    run = lease(api, "1002", key="a", quantity=3, tag="run-7")
    keep = lease(api, "1001", key="b", tag="run-8")
    r = api.post("/leases/release", tag="run-7")
    assert r.status_code == 200, r.content
    assert r.json()["released"] == 3
    assert {x["state"] for x in r.json()["leases"]} == {"released"}
    held = {x["phoneNo"] for x in sim.leases()}
    assert held == {keep[0]["phone"]}
    assert not held & {x["phone"] for x in run}
    assert api.post("/leases/release").status_code == 400  # a tag is required
    again = api.post("/leases/release", tag="run-7")
    assert again.json()["released"] == 0


def test_release_blacklist_keep_waiting(personas, items, api_for, sim):
    api = api_for(personas["member"])
    a, b = lease(api, "1002", key="a", quantity=2)
    r = api.post(f"/leases/{a['id']}/release")
    assert r.status_code == 200 and r.json()["state"] == "released"
    assert api.post(f"/leases/{a['id']}/release").status_code == 409
    r = api.post(f"/leases/{b['id']}/blacklist")
    assert r.status_code == 200 and r.json()["state"] == "blocked"
    assert sim.stats()["requests"]["block"] == 1
    (c,) = lease(api, "1001", key="c")
    r = api.post(f"/leases/{c['id']}/keep-waiting")
    assert r.status_code == 409
    assert r.json()["error"]["message"] == "This item receives a single SMS."
    (d,) = lease(api, "1005", key="d")
    Lease.objects.filter(pk=d["id"]).update(state=LeaseState.RECEIVED)
    r = api.post(f"/leases/{d['id']}/keep-waiting")
    assert r.status_code == 200 and r.json()["state"] == "waiting"


@pytest.mark.backend
def test_send_is_idempotent_and_send_status_answers(personas, items, api_for, sim):
    api = api_for(personas["member"])
    (one,) = lease(api, "1004", key="s")
    url = f"/leases/{one['id']}/send"
    assert api.post(url, {"text": "hello"}).status_code == 400  # the key is required
    r = api.post(url, {"text": "hello"}, key="s1")
    assert r.status_code == 201, r.content
    again = api.post(url, {"text": "hello"}, key="s1")
    assert again.status_code == 201 and again.json() == r.json()
    assert sim.stats()["requests"]["send_sms"] == 1
    assert api.post(url, {"text": "other"}, key="s1").status_code == 422
    assert api.post(url, {"text": ""}, key="s2").status_code == 400
    r = api.get(f"/leases/{one['id']}/send-status")
    assert r.status_code == 200 and r.json()["answer"]
    assert sim.stats()["requests"]["send_status"] == 1


def test_send_refusal_is_the_upstreams_or_the_rules_message(personas, items, api_for):
    api = api_for(personas["member"])
    (one,) = lease(api, "1001", key="s")
    r = api.post(f"/leases/{one['id']}/send", {"text": "hi"}, key="x")
    assert r.status_code == 409 and "cannot send" in r.json()["error"]["message"]


def test_the_schema_is_openapi_3_and_the_reference_page_is_local(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] and isinstance(schema["paths"], dict)
    for path in (
        "/api/v1/items",
        "/api/v1/leases",
        "/api/v1/leases/{lease_id}",
        "/api/v1/leases/{lease_id}/code",
        "/api/v1/leases/{lease_id}/release",
        "/api/v1/leases/{lease_id}/blacklist",
        "/api/v1/leases/{lease_id}/keep-waiting",
        "/api/v1/leases/{lease_id}/send",
        "/api/v1/leases/{lease_id}/send-status",
        "/api/v1/leases/release",
    ):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    validate(schema)  # raises on any violation of the OpenAPI 3 specification
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        "api-docs.js" in html
        and "http"
        not in html.split("<body", 1)[1].replace('href="/', "").split("api-docs.js")[0].lower()
    )
    assert "cdn" not in html.lower()


def test_the_command_prints_the_token_alone_on_the_last_line(personas):
    from io import StringIO

    from django.core.management import call_command

    from accounts import tokens

    out = StringIO()
    call_command("api_token", "create", "member", "--name", "cli", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("zk_") and " " not in last
    assert tokens.authenticate(last) == personas["member"]
    assert ApiToken.objects.get(name="cli").digest == tokens.digest(last)


def test_lease_requests_record_tag_and_token(personas, items, api_for):
    lease(api_for(personas["member"], name="tk"), key="z", tag="tg")
    req = LeaseRequest.objects.get()
    assert req.tag == "tg" and req.token.name == "tk"


@pytest.mark.backend
def test_control_characters_are_bad_input_not_a_database_error(personas, items, api_for):
    api = api_for(personas["member"])
    assert api.get("/leases", tag="a\x00b").status_code == 400
    assert api.post("/leases/release", tag="%00").status_code == 400
    r = api.post("/leases", {"item": "1001", "tag": "a\x00b"}, key="nul")
    assert r.status_code == 400
    (one,) = lease(api, "1004", key="ok")
    r = api.post(f"/leases/{one['id']}/send", {"text": "a\x00b"}, key="nul")
    assert r.status_code == 400


def test_a_lease_and_its_release_stay_within_their_statements(personas, items, api_for, sim):
    """The statements of the two calls every kit test makes (every one costs the one web
    process CPU under a suite's load; bench/kits.py measures the effect). The write-ahead audit,
    the reservation and each transition are in these counts: a new statement is a choice."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for(personas["member"])
    api.post("/leases", {"item": "1001"}, key="warm-" + "w" * 27)  # the session verified
    with CaptureQueriesContext(connection) as leasing:
        r = api.post("/leases", {"item": "1001"}, key="count-" + "c" * 26)
    assert r.status_code == 201, r.content
    with CaptureQueriesContext(connection) as releasing:
        done = api.post(f"/leases/{r.json()['leases'][0]['id']}/release")
    assert done.status_code == 200 and done.json()["state"] == "released"
    assert len(leasing) <= 25 and len(releasing) <= 17, (len(leasing), len(releasing))
