"""The API as a contract: its OpenAPI document describes every operation, schema, property
and answer, and every error under /api/v1/ is the one JSON envelope."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest
from openapi_spec_validator import validate

from leases.choices import EndReason, ItemStatus, ItemType, LeaseState, SendStatus
from leases.models import Lease
from leases.webhooks.models import WebhookDelivery

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@pytest.fixture
def doc(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op
    for name, item in doc.get("webhooks", {}).items():
        for method, op in item.items():
            yield f"webhook {name} {method.upper()}", op


def undescribed(schema, where, doc, seen):
    """Every place under ``schema`` without a description (following $refs once)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from undescribed(doc["components"]["schemas"][name], name, doc, seen)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            yield from undescribed(sub, where, doc, seen)
    if "items" in schema:
        yield from undescribed(schema["items"], where + "[]", doc, seen)
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("description"):
            yield f"{where}.{name}"
        yield from undescribed(prop, f"{where}.{name}", doc, seen)


def test_every_operation_schema_and_property_is_described(doc):
    missing = []
    ids = []
    seen: set[str] = set()
    for name, op in operations(doc):
        ids.append(op.get("operationId"))
        for field in ("operationId", "summary", "description", "tags"):
            if not op.get(field):
                missing.append(f"{name}: {field}")
        for p in op.get("parameters", ()):
            if not p.get("description"):
                missing.append(f"{name}: parameter {p['name']}")
        for status, answer in op["responses"].items():
            if not answer.get("description"):
                missing.append(f"{name}: answer {status}")
            for media in answer.get("content", {}).values():
                missing += undescribed(media["schema"], f"{name} {status}", doc, seen)
        for media in op.get("requestBody", {}).get("content", {}).values():
            missing += undescribed(media["schema"], f"{name} body", doc, seen)
    for name, schema in doc["components"]["schemas"].items():
        if not schema.get("description"):
            missing.append(f"schema {name}")
        missing += undescribed(schema, name, doc, seen)
    assert missing == []
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert {
        "listItems",
        "createLease",
        "listLeases",
        "getLease",
        "waitForCode",
        "releaseLease",
        "releaseByTag",
        "blacklistLease",
        "keepWaiting",
        "sendSms",
        "getSendStatus",
    } <= set(ids)
    validate(doc)


def test_errors_are_documented_with_the_one_error_schema(doc):
    error = {"$ref": "#/components/schemas/Error"}
    expected = {
        "createLease": {400, 401, 403, 404, 409, 415, 422, 429, 502},
        "waitForCode": {400, 401, 404, 410, 429},
        "releaseLease": {400, 401, 403, 404, 409, 502},
        "sendSms": {400, 401, 403, 404, 409, 415, 422, 429},
        "listItems": {401},
    }
    seen = set()
    for name, op in operations(doc):
        if name.startswith("webhook"):
            continue
        seen.add(op["operationId"])
        errors = {int(s) for s in op["responses"] if int(s) >= 400}
        assert 401 in errors, name
        for status in errors:
            assert op["responses"][str(status)]["content"]["application/json"]["schema"] == error
        if op["operationId"] in expected:
            assert errors == expected[op["operationId"]], name
    assert set(expected) <= seen
    assert (
        doc["paths"]["/api/v1/leases/{lease_id}/code"]["get"]["responses"]["204"].get("content")
        is None
    )


def test_one_bearer_scheme_for_every_operation_and_a_server(doc):
    schemes = doc["components"]["securitySchemes"]
    assert list(schemes) == ["bearerAuth"]
    assert schemes["bearerAuth"]["scheme"] == "bearer" and schemes["bearerAuth"]["bearerFormat"]
    assert doc["security"] == [{"bearerAuth": []}]
    assert all("security" not in op for name, op in operations(doc) if "webhook" not in name)
    assert doc["servers"] and doc["servers"][0]["url"]


def test_closed_sets_are_enums_of_the_stored_choices(doc):
    schemas = doc["components"]["schemas"]
    lease = schemas["LeaseOut"]["properties"]
    assert lease["state"]["enum"] == LeaseState.values
    assert lease["end_reason"]["enum"] == ["", *EndReason.values]
    item = schemas["ItemOut"]["properties"]
    assert item["type"]["enum"] == [*ItemType.values, None]
    assert item["status"]["enum"] == [*ItemStatus.values, None]
    assert schemas["SendOut"]["properties"]["status"]["enum"] == SendStatus.values
    assert schemas["LeaseIn"]["properties"]["carrier"]["enum"] == ["", "1", "2", "3"]
    state = next(
        p for p in doc["paths"]["/api/v1/leases"]["get"]["parameters"] if p["name"] == "state"
    )
    assert state["schema"]["enum"] == ["", "active", *LeaseState.values]
    from leases.api.schemas import StateFilter

    assert list(get_args(StateFilter)) == ["", "active", *LeaseState.values]


def test_the_idempotency_key_is_a_required_header_with_its_alphabet(doc):
    for path, method in (("/api/v1/leases", "post"), ("/api/v1/leases/{lease_id}/send", "post")):
        (key,) = [
            p for p in doc["paths"][path][method]["parameters"] if p["name"] == "Idempotency-Key"
        ]
        assert key["in"] == "header" and key["required"] is True
        assert key["schema"]["type"] == "string"  # not nullable
        assert key["schema"]["maxLength"] == 200 and key["schema"]["pattern"]


def test_the_webhooks_are_in_the_document_with_headers_and_signature(doc):
    from leases.api.openapi import retry_minutes
    from leases.webhooks import delivery as webhooks

    assert set(doc["webhooks"]) == {"lease.code_received", "lease.ended"}
    for name, item in doc["webhooks"].items():
        op = item["post"]
        headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
        assert headers["X-Zhima-Event"]["schema"]["enum"] == [name]
        assert {"X-Zhima-Event-Id", "X-Zhima-Timestamp", "X-Zhima-Signature"} <= set(headers)
        assert "HMAC-SHA256" in op["description"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert body["properties"]["type"]["const"] == name
    waits = retry_minutes()
    assert len(waits) == webhooks.MAX_ATTEMPTS - 1
    assert waits == [webhooks.backoff(n).total_seconds() / 60 for n in range(1, 8)]


# -- one error envelope ------------------------------------------------------------------------


def envelope(r, status, code):
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def test_an_unparsable_body_is_the_envelope(personas, items, api_for):
    api = api_for(personas["member"])
    r = api.client.post(
        "/api/v1/leases",
        "{not json",
        content_type="application/json",
        headers={**api.headers, "Idempotency-Key": "k"},
    )
    envelope(r, 400, "invalid_request")


def test_a_body_not_sent_as_json_is_a_415(personas, items, api_for, sim):
    api = api_for(personas["member"])
    r = api.client.post(
        "/api/v1/leases",
        json.dumps({"item": "1001"}),
        content_type="text/plain",
        headers={**api.headers, "Idempotency-Key": "k"},
    )
    envelope(r, 415, "unsupported_media_type")
    assert "get_numbers" not in sim.stats()["requests"]


def test_a_wrong_method_is_a_405_with_allow(personas, api_for):
    api = api_for(personas["member"])
    r = api.client.delete("/api/v1/items", headers=api.headers)
    envelope(r, 405, "method_not_allowed")
    assert r["Allow"] == "GET"
    r = api.client.put("/api/v1/leases/1/code", headers=api.headers)  # the async view
    envelope(r, 405, "method_not_allowed")
    assert r["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/leases/1/nope", "/api/v1/", "/api/v1"])
def test_an_unknown_path_under_the_api_is_a_json_404(client, path):
    envelope(client.get(path), 404, "not_found")


def test_a_missing_or_malformed_idempotency_key_is_its_own_400(personas, items, api_for, sim):
    api = api_for(personas["member"])
    for key in (None, "", "a b", "x" * 201):
        r = api.post("/leases", {"item": "1001"}, key=key)
        envelope(r, 400, "idempotency_key_required")
    assert "get_numbers" not in sim.stats()["requests"]


def test_a_server_fault_is_a_json_500(personas, items, api_for, monkeypatch):
    from leases.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.services, "keep_waiting", broken)
    api = api_for(personas["member"])
    (one,) = api.post("/leases", {"item": "1005"}, key="k").json()["leases"]
    api.client.raise_request_exception = False
    body = envelope(api.post(f"/leases/{one['id']}/keep-waiting"), 500, "server_error")
    assert "boom" not in body["error"]["message"]


def test_a_204_has_no_body_and_no_content_type(personas, items, api_for, transactional_db):
    api = api_for(personas["member"])
    (one,) = api.post("/leases", {"item": "1001"}, key="k").json()["leases"]
    r = api.get(f"/leases/{one['id']}/code", wait=0)
    assert r.status_code == 204
    assert r.content == b"" and "Content-Type" not in r


# -- replays -----------------------------------------------------------------------------------


def test_a_replayed_upstream_refusal_is_the_first_answer_byte_for_byte(
    personas, items, api_for, sim
):
    sim.state.accounts["demo"].balance = 0
    api = api_for(personas["member"])
    first = api.post("/leases", {"item": "1001"}, key="poor")
    envelope(first, 409, "refused")
    again = api.post("/leases", {"item": "1001"}, key="poor")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Content-Type"] == first["Content-Type"]
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_a_replayed_lease_is_the_first_answer_though_the_lease_changed(
    personas, items, api_for, sim
):
    api = api_for(personas["member"])
    first = api.post("/leases", {"item": "1001", "tag": "t"}, key="once")
    assert first.status_code == 201
    lease_id = first.json()["leases"][0]["id"]
    assert api.post(f"/leases/{lease_id}/release").status_code == 200
    again = api.post("/leases", {"item": "1001", "tag": "t"}, key="once")
    assert (again.status_code, again.content) == (201, first.content)
    assert sim.stats()["requests"]["get_numbers"] == 1
    # A different body with the key is still a 422.
    assert api.post("/leases", {"item": "1001"}, key="once").status_code == 422


def test_an_unreachable_upstream_replays_the_same_502(personas, items, api_for, account):
    account.base_url = "http://127.0.0.1:9/zsmcode/"  # nothing listens: refused at once
    account.save()
    from accounts.registry import forget_clients

    forget_clients()
    api = api_for(personas["member"])
    first = api.post("/leases", {"item": "1001"}, key="down")
    assert first.status_code == 502, first.content
    again = api.post("/leases", {"item": "1001"}, key="down")
    assert (again.status_code, again.content) == (first.status_code, first.content)


# -- one datetime format -----------------------------------------------------------------------


def test_the_webhook_body_and_the_api_write_date_times_alike(personas, items, api_for, account):
    from leases.webhooks import delivery as webhooks
    from leases.webhooks.models import Webhook

    hook = Webhook(account=account, url="https://hooks.example.com/zhima", events=["lease.ended"])
    hook.set_secret("s" * 32)
    hook.save()
    api = api_for(personas["member"])
    (one,) = api.post("/leases", {"item": "1001"}, key="k").json()["leases"]
    released = api.post(f"/leases/{one['id']}/release").json()
    webhooks._enqueue("lease.ended", [one["id"]])
    body = json.loads(WebhookDelivery.objects.get(event="lease.ended").body)
    lease = body["data"]["lease"]
    assert lease["leased_at"] == one["leased_at"] == released["leased_at"]
    assert lease["ended_at"] == released["ended_at"]
    assert Lease.objects.get(pk=one["id"]).ended_at is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", lease["leased_at"])


# -- the README says what runs -----------------------------------------------------------------


def readme() -> str:
    from django.conf import settings

    return (settings.BASE_DIR / "README.md").read_text()


def test_the_readme_states_the_webhook_retries_the_code_runs():
    from leases.api.openapi import retry_minutes
    from leases.webhooks import delivery as webhooks

    text = " ".join(readme().split())
    stated = re.search(r"is retried ([\d, and]+) minutes after the failed attempt", text)
    assert stated, "the README states the retry schedule"
    assert [int(n) for n in re.findall(r"\d+", stated.group(1))] == retry_minutes()
    assert f"{webhooks.MAX_ATTEMPTS} attempts" in text
    assert "`X-Zhima-Event`" in text


def test_the_readmes_curl_examples_define_what_they_use():
    blocks = re.findall(r"```sh\n(.*?)```", readme(), re.S)
    for block in (b for b in blocks if "curl" in b and "/api/v1" in b):
        for name in set(re.findall(r"\$\{?([A-Z_]+)", block)):
            first_use = re.search(r"\$\{?" + name + r"\b", block).start()
            defined = re.search(r"(^|[\s;])" + name + "=", block)
            assert defined and defined.start() < first_use, name


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"item": "1001", "international": 0}, 400),  # not a JSON boolean
        ({"item": "1001", "quantity": "1"}, 400),  # not a JSON integer
        ({"item": "1001", "quantity": True}, 400),
        ({"item": "1001", "quantity": 1.5}, 400),
        ({"item": "1001", "quantity": 1.0}, 201),  # JSON Schema's integer
    ],
)
def test_body_values_have_the_json_types_the_schema_says(personas, items, api_for, body, status):
    r = api_for(personas["member"]).post("/leases", body, key="typed")
    assert r.status_code == status, r.content
