"""The client's address through the real web servers: ``zhima_site.clientip`` (driven by
``TRUSTED_PROXIES``) is the only reader of ``X-Forwarded-For``. uvicorn, and gunicorn's uvicorn
worker, would otherwise rewrite the peer's address from the header for every loopback client
before the console sees the request — so anyone on the host could pick their address.

Each server is started with the command the project gives for it: uvicorn as ``.ci/start``
(README command (a)) launches it, gunicorn with README's "Running for a team" command line.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.urls import reverse

from tests.conftest import test_database_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_command(port: int) -> list[str]:
    """The web server's command line in ``.ci/start``."""
    script = (ROOT / ".ci/start").read_text().replace("\\\n", " ")
    (line,) = [x.strip() for x in script.splitlines() if x.strip().startswith("launch web ")]
    line = line.replace('"$PY"', shlex.quote(sys.executable)).replace('"$PORT"', str(port))
    return shlex.split(line)[2:]


def readme_gunicorn_command(port: int) -> list[str]:
    """README's gunicorn command line for a team, on ``port``."""
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    (line,) = [x for x in readme.splitlines() if "bin/gunicorn -c " in x]
    args = shlex.split(line.split("#", 1)[0])
    assert args[0] == ".venv/bin/gunicorn"
    args[0] = str(BIN / "gunicorn")
    args[args.index("-b") + 1] = f"127.0.0.1:{port}"
    return args


SERVERS = {"uvicorn (.ci/start)": start_command, "gunicorn (README)": readme_gunicorn_command}


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(params=list(SERVERS))
def serve(request, tmp_path):
    """``serve(TRUSTED_PROXIES=…)``: the console under the real server, on the test database;
    gives its root URL."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("METRICS", "TRUSTED"))}
        log = (tmp_path / f"server-{len(started)}.log").open("w")
        proc = subprocess.Popen(
            SERVERS[request.param](port),
            cwd=ROOT,
            env={**base, "DATABASE_URL": test_database_url(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _up(root + "/healthz"):
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        return root

    yield start
    for proc in started:
        with_signal(proc, signal.SIGTERM)


def with_signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


@pytest.fixture
def member(make_user):
    """A user whose password the servers can check: scrypt, one of their hashers (the tests'
    fast one is not), at a small cost so that each sign-in stays quick (scrypt adds no time
    to a wrong password's check, as PBKDF2 does to match its own default cost)."""
    from django.contrib.auth.hashers import ScryptPasswordHasher

    user = make_user("member")
    user.password = ScryptPasswordHasher().encode("pw-member", "s" * 22, n=16, r=1, p=1)
    user.save(update_fields=["password"])
    return user


def sign_in(root: str, username: str, password: str, spoofed: str) -> int:
    """One sign-in through the server's login form, as a client claiming ``spoofed``."""
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = spoofed
    form = browser.get(root + reverse("login"), timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.status_code
    data = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    r = browser.post(root + reverse("login"), data=data, timeout=10, allow_redirects=False)
    return r.status_code


def test_a_spoofed_forwarded_for_neither_opens_the_metrics_nor_escapes_the_lockout(serve, member):
    """With ``TRUSTED_PROXIES`` empty, the peer (loopback here) is the client, whatever the
    header claims."""
    root = serve(TRUSTED_PROXIES="", METRICS_ALLOW_IPS="10.0.0.0/8")
    spoofed = requests.get(root + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=10)
    assert spoofed.status_code == 403
    for n in range(django_settings.AXES_FAILURE_LIMIT + 2):  # each claims another address
        sign_in(root, "member", "wrong", f"203.0.113.{n + 1}")
    assert sign_in(root, "member", "pw-member", "203.0.113.99") == 429


def test_with_the_proxy_trusted_its_forwarded_address_is_believed(serve, member):
    """The same servers believe the header once ``TRUSTED_PROXIES`` names the proxy (here
    loopback, where the test's requests come from): the one setting decides."""
    root = serve(TRUSTED_PROXIES="127.0.0.1", METRICS_ALLOW_IPS="10.0.0.0/8")
    assert requests.get(root + "/metrics", timeout=10).status_code == 403
    ok = requests.get(root + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=10)
    assert ok.status_code == 200
    for n in range(django_settings.AXES_FAILURE_LIMIT + 2):  # as many different clients
        assert sign_in(root, "member", "wrong", f"203.0.113.{n + 1}") == 200
    assert sign_in(root, "member", "pw-member", "203.0.113.99") == 302
