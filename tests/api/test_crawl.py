"""A crawl of every API URL from the URL configuration, with good and bad ids and query
parameters, through each persona's token: never a 5xx, and another account's lease is a 404."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from leases import services
from leases.models import Lease

pytestmark = pytest.mark.backend

BAD_IDS = ["0", "999999999", "abc", "-1", "1.5", "9" * 40]
BAD_QUERY = "?wait=abc&after=-1&tag=%00&state=zzz"


def api_names():
    names = []

    def walk(patterns, ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{p.namespace}:" if p.namespace else ns)
            elif isinstance(p, URLPattern) and p.name and ns == "api:":
                names.append((ns + p.name, list(p.pattern.converters)))

    walk(get_resolver().url_patterns)
    return names


def test_every_api_url_answers_without_a_server_error(
    personas, items, sim, api_for, transactional_db
):
    req = services.lease_numbers(personas["member"], items["1003"], key="c" * 32)
    lease_id = Lease.objects.get(request=req).pk
    names = api_names()
    assert len(names) >= 8
    crawled = 0
    for persona in ("owner", "member", "outsider", "viewer"):
        api = api_for(personas[persona], name=f"crawl-{persona}")
        for name, params in names:
            ids = [str(lease_id), *BAD_IDS] if params else [None]
            for i in ids:
                try:
                    url = reverse(name, args=[i] if i else [])
                except Exception:
                    url = reverse(name, args=["1"]).replace("/1/", f"/{i}/")
                url = url.removeprefix("/api/v1")
                for suffix in ("", BAD_QUERY):
                    for r in (
                        api.get(url + suffix),
                        api.post(url + suffix, {"text": "x", "item": "1"}, key="k"),
                    ):
                        crawled += 1
                        assert r.status_code < 500 or r.json()["error"]["code"] in (
                            "ambiguous",
                            "upstream_unreachable",
                            "release_pending",
                        ), (persona, url + suffix, r.status_code, r.content)
                        if persona == "outsider" and i == str(lease_id) and r.status_code != 405:
                            assert r.status_code in (400, 404), (url, r.status_code)
    assert crawled > 300
