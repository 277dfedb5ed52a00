"""The API's fixtures: tokens for the personas, a client that sends them, a fast poller."""

from __future__ import annotations

import json

import pytest
from django.test import Client


class Api:
    """The test client with a bearer token, speaking JSON."""

    def __init__(self, raw: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"} if raw else {}

    def get(self, path, **params):
        return self.client.get("/api/v1" + path, params, headers=self.headers)

    def post(self, path, body=None, key=None, **params):
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        if params:
            path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        return self.client.post(
            "/api/v1" + path,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers=headers,
        )


@pytest.fixture
def token():
    from accounts import tokens

    def make(user, name="ci", **kw):
        _row, raw = tokens.issue(user, name, **kw)
        return raw

    return make


@pytest.fixture
def api_for(token):
    def make(user, **kw):
        return Api(token(user, **kw))

    return make


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.3
    settings.ZHIMA_API_WATCH_INTERVAL = 0.05


@pytest.fixture(autouse=True)
def _close_api_pool():
    yield
    from leases.api.watch import close_db_connections

    close_db_connections()
