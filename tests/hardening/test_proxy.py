"""One idea of the client's address behind a proxy: metrics, lockout and logs."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.logging import ContextFilter, JsonFormatter
from zhima_site.clientip import parse_trusted, resolve

ROOT = Path(__file__).resolve().parents[2]
PROXY = {"REMOTE_ADDR": "127.0.0.1"}  # what every request looks like behind a local proxy


def via_proxy(client_address):
    return {**PROXY, "HTTP_X_FORWARDED_FOR": client_address}


@pytest.mark.parametrize(
    ("remote", "xff", "trusted", "expected"),
    [
        ("127.0.0.1", "203.0.113.5", (), "127.0.0.1"),  # nobody trusted: the header is ignored
        ("127.0.0.1", "203.0.113.5", ("127.0.0.1",), "203.0.113.5"),
        ("198.51.100.9", "203.0.113.5", ("127.0.0.1",), "198.51.100.9"),  # not via the proxy
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", ("127.0.0.1",), "203.0.113.5"),  # spoofed left
        ("127.0.0.1", "203.0.113.5, 10.0.0.7", ("127.0.0.1", "10.0.0.0/8"), "203.0.113.5"),
        ("127.0.0.1", "garbage, 10.0.0.7", ("127.0.0.1", "10.0.0.0/8"), "10.0.0.7"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", 1, "203.0.113.5"),
        ("127.0.0.1", "203.0.113.5, 10.0.0.7", 2, "203.0.113.5"),
        ("127.0.0.1", "", 1, "127.0.0.1"),
        ("127.0.0.1", "[2001:db8::1]:443", 1, "2001:db8::1"),
        ("::ffff:127.0.0.1", "203.0.113.5:5555", ("127.0.0.1",), "203.0.113.5"),
    ],
)
def test_the_client_address_is_believed_only_through_trusted_proxies(
    remote, xff, trusted, expected
):
    assert resolve(remote, xff, trusted) == expected


def test_trusted_proxies_parse_a_count_or_addresses():
    assert parse_trusted("") == () and parse_trusted("2") == 2
    assert parse_trusted("127.0.0.1, 10.0.0.0/8") == ("127.0.0.1", "10.0.0.0/8")
    with pytest.raises(ValueError, match="nope"):
        parse_trusted("127.0.0.1,nope")


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_behind_the_proxy_need_the_token_by_default(client, db, settings):
    """The default allow-list was loopback: every request, once a local proxy forwards it."""
    settings.METRICS_TOKEN = "s3cret-token"
    settings.TRUSTED_PROXIES = ("127.0.0.1",)
    assert client.get("/metrics", **via_proxy("203.0.113.5")).status_code == 403
    assert client.get("/metrics", **PROXY).status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **PROXY)
    assert ok.status_code == 200


def test_an_explicit_allow_list_is_matched_against_the_client_not_the_proxy(client, db, settings):
    settings.TRUSTED_PROXIES = ("127.0.0.1",)
    settings.METRICS_ALLOW_IPS = ["127.0.0.1", "10.1.0.0/16"]
    assert client.get("/metrics", **via_proxy("203.0.113.5")).status_code == 403
    assert client.get("/metrics", **via_proxy("10.1.2.3")).status_code == 200
    # a spoofed header from outside the proxy is not believed
    r = client.get("/metrics", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert r.status_code == 403


def _settings_json(env, code):
    base = {k: v for k, v in os.environ.items() if k not in env and not k.startswith("METRICS")}
    r = subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup(); " + code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "zhima_site.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r


def test_the_default_allow_list_is_empty_and_an_empty_variable_means_empty():
    code = "from django.conf import settings as s; print(json.dumps(s.METRICS_ALLOW_IPS))"
    for env in ({}, {"METRICS_ALLOW_IPS": ""}, {"METRICS_ALLOW_IPS": " , "}):
        r = _settings_json(env, code)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1]) == [], env
    r = _settings_json({"METRICS_ALLOW_IPS": "10.0.0.0/8,::1"}, code)
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["10.0.0.0/8", "::1"]
    r = _settings_json({"TRUSTED_PROXIES": "localhost"}, code)
    assert r.returncode != 0 and "TRUSTED_PROXIES: 'localhost' is neither" in r.stderr


# -- the lockout -------------------------------------------------------------------------------


def _fail(client, username, address, n=1):
    for _ in range(n):
        r = client.post(
            reverse("login"), {"username": username, "password": "wrong"}, **via_proxy(address)
        )
    return r


def test_one_persons_typos_behind_the_proxy_do_not_lock_out_the_team(client, personas, settings):
    settings.TRUSTED_PROXIES = ("127.0.0.1",)
    assert _fail(client, "member", "203.0.113.5", settings.AXES_FAILURE_LIMIT).status_code == 429
    # Another member, through the same proxy from another address, signs in.
    r = client.post(
        reverse("login"),
        {"username": "owner", "password": "pw-owner"},
        **via_proxy("203.0.113.77"),
    )
    assert r.status_code == 302
    client.post(reverse("logout"))
    # And so does the named user from elsewhere: a stranger cannot lock them out.
    r = client.post(
        reverse("login"),
        {"username": "member", "password": "pw-member"},
        **via_proxy("198.51.100.20"),
    )
    assert r.status_code == 302


# -- logs ----------------------------------------------------------------------------------------


def test_log_lines_carry_the_client_address(client, personas, settings):
    settings.TRUSTED_PROXIES = ("127.0.0.1",)
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.force_login(personas["member"])
        assert client.get("/leases/999999/", **via_proxy("203.0.113.5")).status_code == 404
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert lines and lines[-1]["client_ip"] == "203.0.113.5"
