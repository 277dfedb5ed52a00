"""The console side of the API: the token page, and history and audit by tag and token."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import ApiToken
from tests.api.conftest import Api


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.backend
def test_a_member_creates_a_token_shown_once_and_revokes_it(client, personas, items):
    login(client, personas["member"])
    page = client.get("/tokens/")
    assert page.status_code == 200
    sent = {
        "name": "nightly",
        "key": "e" * 32,
        "accounts": [items["1001"].account_id],
        "expires": "2099-01-01",
    }
    r = client.post("/tokens/", sent)
    assert r.status_code == 200
    raw = re.search(r'id="token-value">(zk_[A-Za-z0-9_-]+)<', r.content.decode()).group(1)
    assert r["Cache-Control"].startswith("max-age=0")
    token = ApiToken.objects.get(name="nightly")
    assert token.user == personas["member"]
    assert timezone.localtime(token.expires_at).date().isoformat() == "2099-01-01"
    assert list(token.accounts.all()) == [items["1001"].account]
    assert raw not in client.get("/tokens/").content.decode()  # shown once
    again = client.post("/tokens/", sent).content.decode()  # a reload sends the form again
    assert ApiToken.objects.count() == 1 and raw not in again and "already sent" in again
    assert Api(raw).get("/items").status_code == 200
    listed = client.get("/tokens/").content.decode()
    assert "nightly" in listed and token.prefix in listed
    # Another member cannot revoke it; its owner can.
    other = login(type(client)(), personas["owner"])
    assert other.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    assert Api(raw).get("/items").status_code == 401
    assert client.post("/tokens/abc/revoke/").status_code == 404


def test_the_token_form_rejects_bad_input(client, personas, items):
    login(client, personas["member"])
    r = client.post("/tokens/", {"name": " ", "expires": "2000-01-01", "key": "f" * 32})
    assert r.status_code == 200 and not ApiToken.objects.exists()
    r = client.post("/tokens/", {"name": "x", "accounts": [personas["other"].pk], "key": "f" * 32})
    assert r.status_code == 200 and not ApiToken.objects.exists()  # not a member there


def test_history_and_audit_filter_by_tag_and_token(client, personas, items, api_for):
    ci = api_for(personas["member"], name="ci-bot")
    r = ci.post("/leases", {"item": "1001", "tag": "run-9"}, key="a")
    assert r.status_code == 201
    phone = r.json()["leases"][0]["phone"]
    other = api_for(personas["member"], name="laptop")
    r = other.post("/leases", {"item": "1001", "tag": "run-10"}, key="a")
    other_phone = r.json()["leases"][0]["phone"]
    other_id = r.json()["leases"][0]["id"]
    login(client, personas["owner"])
    page = client.get("/history/", {"tag": "run-9"}).content.decode()
    assert phone in page and other_phone not in page and "ci-bot" in page
    page = client.get("/history/", {"token": "laptop"}).content.decode()
    assert other_phone in page and phone not in page
    csv = b"".join(client.get("/history.csv", {"tag": "run-9"}).streaming_content).decode()
    assert "run-9" in csv and other_phone not in csv
    audit = client.get("/audit/", {"token": "ci-bot"}).content.decode()
    assert "member · ci-bot" in audit and "member · laptop" not in audit
    detail = client.get(f"/leases/{other_id}/").content.decode()
    assert "laptop" in detail and "run-10" in detail and "member" in detail
