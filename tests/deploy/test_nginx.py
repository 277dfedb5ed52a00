"""The console behind Debian's real nginx, configured by the shipped template.

One stack per module, laid out as README "Deploy on a server" lays it out: a copy of the
checkout (static files collected into it), the services' environment from
``deploy/zhima.env.example`` with this machine's database, ports and files, README's gunicorn
command, the django-q2 cluster (the poller) and the simulator as the upstream, and nginx in
front with the template rendered by ``envsubst`` and a certificate made here.
``TRUSTED_PROXIES`` names nginx (127.0.0.1); the clients connect from 127.0.0.2 and 127.0.0.3.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from .tools import (
    DEPLOY,
    ROOT,
    env_file,
    free_ports,
    nginx_main_conf,
    render_template,
    self_signed,
    tool,
)

METRICS_TOKEN = "deploy-test-metrics-token-0123456789"
ADMIN_PASSWORD = "deploy-test-Password-1"
ALLOWED_SCRAPER = "203.0.113.9"  # METRICS_ALLOW_IPS: an address no test client has


def readme_gunicorn_command() -> list[str]:
    """README's gunicorn command ("Running for a team"), as the web unit runs it."""
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    (line,) = [line for line in readme.splitlines() if "gunicorn -c " in line]
    return line.split("#", 1)[0].split()


def checkout_copy(dest: Path) -> Path:
    """The tracked files (as they are in the working tree) and a link to this ``.venv``:
    what /opt/zhima-console holds on a server."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(Path(sys.executable).parents[1])
    return dest


class BoundSession(requests.Session):
    """A client whose connections leave from ``source`` (a loopback address of its own)."""

    def __init__(self, source: str, verify: Path):
        super().__init__()
        self.trust_env = False  # no proxy, no CA bundle from the environment
        self.verify = str(verify)

        class Bound(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["source_address"] = (source, 0)
                super().init_poolmanager(*args, **kwargs)

        self.mount("https://", Bound())
        self.mount("http://", Bound())


class Stack:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen]] = []
        ports = free_ports(4)
        self.http_port, self.https_port, self.web_port, self.sim_port = ports
        self.base = f"https://127.0.0.1:{self.https_port}"
        self.sim_root = f"http://127.0.0.1:{self.sim_port}/"

    def start(self, name: str, command: list[str], cwd: Path) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("w")
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole at the end
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    def manage(self, *args: str) -> str:
        r = subprocess.run(
            [str(self.app / ".venv/bin/python"), "manage.py", *args],
            cwd=self.app,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-3000:])
        return r.stdout

    def wait_for(self, url: str, name: str, **kw) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for pname, proc in self.procs:
                assert proc.poll() is None, f"{pname} exited:\n{self.log(pname)}"
            try:
                if requests.get(url, timeout=5, **kw).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{name} did not answer {url}:\n{self.log(name)}")

    def up(self) -> None:
        nginx = tool("nginx")
        self.app = checkout_copy(self.tmp / "app")
        cert, key = self_signed(self.tmp)
        self.cert = cert
        secret = self.tmp / "secret-key"
        secret.write_text(uuid.uuid4().hex * 2)
        secret.chmod(0o600)
        env = env_file(DEPLOY / "zhima.env.example")
        env.pop("REDIS_URL")  # the embedded default run: SQLite and django-q2's ORM broker
        env.update(
            HOME=os.environ.get("HOME", "/root"),
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
            LANG="C.UTF-8",
            DJANGO_SECRET_KEY_FILE=str(secret),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_CSRF_TRUSTED_ORIGINS=self.base,
            DATABASE_URL=f"sqlite:///{self.tmp / 'db.sqlite3'}",
            CACHE_DIR=str(self.tmp / "cache"),
            ZHIMA_FIELD_KEYS_FILE=str(self.tmp / "etc" / "field-keys"),
            ZHIMA_BASE_URL=self.sim_root + "zsmcode/",
            ZHIMA_SANDBOX_URL=self.sim_root + "zsmcode/",
            ZHIMA_UPSTREAM_HOSTS="127.0.0.1",
            ZHIMA_POLL_INTERVAL="1",
            Q_WORKERS="2",
            ZHIMA_POLLER_SLOTS="1",
            Q_CLUSTER_NAME=f"zhima-deploy-{os.getpid()}",
            METRICS_TOKEN=METRICS_TOKEN,
            METRICS_ALLOW_IPS=ALLOWED_SCRAPER,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        )
        assert env["TRUSTED_PROXIES"] == "127.0.0.1"  # as shipped: nginx on the same host
        self.env = env
        python = str(self.app / ".venv/bin/python")
        sim_cmd = [python, "manage.py", "runsimulator", "--port", str(self.sim_port)]
        self.start("simulator", sim_cmd, self.app)
        self.wait_for(self.sim_root + "_sim/stats", "simulator")
        requests.post(self.sim_root + "_sim/config", json={"auto_sms": False}, timeout=5)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.manage("bootstrap")  # schedules, the sandbox account (the simulator), admin
        self.token = self.manage("api_token", "create", "admin", "--name", "nginx").split()[-1]
        command = readme_gunicorn_command()
        command[0] = str(self.app / command[0])
        command[command.index("-b") + 1] = f"127.0.0.1:{self.web_port}"
        command[command.index("-w") + 1] = "2"
        self.start("web", command, self.app)
        self.start("worker", [python, "manage.py", "qcluster"], self.app)
        self.wait_for(f"http://127.0.0.1:{self.web_port}/healthz", "web")
        rendered = render_template(
            {
                "ZHIMA_SERVER_NAME": "127.0.0.1",
                "ZHIMA_HTTP_PORT": str(self.http_port),
                "ZHIMA_HTTPS_PORT": str(self.https_port),
                "ZHIMA_UPSTREAM": f"127.0.0.1:{self.web_port}",
                "ZHIMA_TLS_CERT": str(cert),
                "ZHIMA_TLS_KEY": str(key),
            }
        )
        site = self.tmp / "nginx" / "zhima.conf"
        site.parent.mkdir()
        site.write_text(rendered)
        conf = nginx_main_conf(self.tmp / "nginx", site)
        self.start("nginx", [nginx, "-p", str(self.tmp / "nginx"), "-c", str(conf)], self.tmp)
        self.wait_for(self.base + "/healthz", "nginx", verify=str(cert))

    def down(self) -> None:
        """Stop the stack as ``.ci/start`` stops its own: SIGTERM, then SIGKILL for what is
        still running a few seconds later (django-q2's cluster drains for longer)."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def client(self, source: str) -> BoundSession:
        return BoundSession(source, self.cert)

    def api(self, source: str = "127.0.0.2") -> BoundSession:
        s = self.client(source)
        s.headers["Authorization"] = f"Bearer {self.token}"
        return s


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("deploy"))
    try:
        s.up()
        yield s
    finally:
        s.down()


def sign_in(session: requests.Session, base: str, password: str) -> int:
    page = session.get(base + "/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = session.post(
        base + "/login/",
        data={"csrfmiddlewaretoken": token, "username": "admin", "password": password},
        headers={"Referer": base + "/login/"},
        allow_redirects=False,
        timeout=30,
    )
    return r.status_code


def test_http_is_redirected_to_https(stack):
    r = stack.client("127.0.0.2").get(
        f"http://127.0.0.1:{stack.http_port}/api/v1/items?x=1", allow_redirects=False, timeout=10
    )
    assert r.status_code == 301
    assert r.headers["Location"] == f"{stack.base}/api/v1/items?x=1"


def lease(stack) -> dict:
    r = stack.api().post(
        stack.base + "/api/v1/leases",
        json={"item": "1001"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    (one,) = r.json()["leases"]
    return one


def test_a_code_reaches_a_long_poll_through_nginx(stack):
    one = lease(stack)
    answer: dict = {}

    def wait():
        url = f"{stack.base}/api/v1/leases/{one['id']}/code?wait=60&after=0"
        answer["r"] = stack.api().get(url, timeout=120)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1)  # the long-poll is held by the web process behind nginx
    sms = {"phoneNo": one["phone"], "text": "【测试】验证码 731942，5分钟内有效。"}
    assert requests.post(stack.sim_root + "_sim/sms", data=sms, timeout=10).status_code == 200
    waiter.join(timeout=90)
    r = answer["r"]
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "731942"


@pytest.mark.slow
def test_a_90_second_long_poll_outlives_nginxs_default_timeout(stack):
    """nginx's default proxy_read_timeout (60 s) would answer 504 at 60 s."""
    one = lease(stack)
    started = time.monotonic()
    r = stack.api().get(f"{stack.base}/api/v1/leases/{one['id']}/code?wait=90&after=0", timeout=150)
    took = time.monotonic() - started
    assert r.status_code == 204, (r.status_code, r.text[:300])
    assert 89 <= took < 110, took


def test_sign_in_lockout_is_per_client_address_through_the_proxy(stack):
    one, other = stack.client("127.0.0.2"), stack.client("127.0.0.3")
    failures = [sign_in(one, stack.base, "wrong-password") for _ in range(5)]
    assert failures == [200, 200, 200, 200, 429]  # the fifth (AXES_FAILURE_LIMIT) locks
    assert sign_in(one, stack.base, ADMIN_PASSWORD) == 429  # this address is locked out
    # A spoofed X-Forwarded-For (the other client's address) changes nothing: nginx
    # replaces the header with the address it saw.
    spoofing = stack.client("127.0.0.2")
    spoofing.headers["X-Forwarded-For"] = "127.0.0.3"
    assert sign_in(spoofing, stack.base, ADMIN_PASSWORD) == 429
    assert sign_in(other, stack.base, ADMIN_PASSWORD) == 302  # the other address signs in


def test_metrics_need_the_token_through_the_proxy(stack):
    client = stack.client("127.0.0.3")
    assert client.get(stack.base + "/metrics", timeout=30).status_code == 403
    bad = {"Authorization": "Bearer not-the-token"}
    assert client.get(stack.base + "/metrics", headers=bad, timeout=30).status_code == 403
    good = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    r = client.get(stack.base + "/metrics", headers=good, timeout=30)
    assert r.status_code == 200 and "zhima_poller_heartbeat_age_seconds" in r.text


def test_a_spoofed_forwarded_for_does_not_reach_the_metrics_allow_list(stack):
    """METRICS_ALLOW_IPS names an address; a client claiming it in X-Forwarded-For is still
    the address nginx saw."""
    for header in (ALLOWED_SCRAPER, f"{ALLOWED_SCRAPER}, 127.0.0.1"):
        r = stack.client("127.0.0.2").get(
            stack.base + "/metrics", headers={"X-Forwarded-For": header}, timeout=30
        )
        assert r.status_code == 403, header


def test_a_hashed_static_file_is_cached_for_a_long_time(stack):
    manifest = (stack.app / "staticfiles" / "staticfiles.json").read_text()
    hashed = re.search(r'"(css/[^"]+\.[0-9a-f]{12}\.css)"', manifest).group(1)
    r = stack.client("127.0.0.2").get(f"{stack.base}/static/{hashed}", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    cache = r.headers["Cache-Control"]
    age = int(re.search(r"max-age=(\d+)", cache).group(1))
    assert age >= 365 * 24 * 3600 and "immutable" in cache, cache


def test_an_oversized_body_is_refused_by_nginx(stack):
    def post(size: int) -> requests.Response:
        return stack.api().post(
            stack.base + "/api/v1/leases",
            data=b"x" * size,
            headers={"Content-Type": "application/json", "Idempotency-Key": "big"},
            timeout=60,
        )

    r = post(512 * 1024)  # under nginx's own default (1 MB): the template's limit refuses it
    assert r.status_code == 413 and "nginx" in r.text  # never reached the console
    r = post(200 * 1024)  # under the limit: the console answers (bad JSON)
    assert r.status_code == 400 and r.headers["X-Request-ID"], r.text[:300]
