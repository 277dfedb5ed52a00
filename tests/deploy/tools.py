"""What the deployment tests share: the system tools they drive, the shipped files, ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "nginx" / "zhima.conf.template"
# The template's variables, and no others (README "Deploy on a server").
NGINX_VARIABLES = (
    "ZHIMA_SERVER_NAME",
    "ZHIMA_HTTP_PORT",
    "ZHIMA_HTTPS_PORT",
    "ZHIMA_UPSTREAM",
    "ZHIMA_TLS_CERT",
    "ZHIMA_TLS_KEY",
)
APT = {"nginx": "nginx-light", "promtool": "prometheus", "systemd-analyze": "systemd"}


def tool(name: str) -> str:
    """The path of a system tool. Missing: a failure in CI (``CI`` set; ``.ci/test`` installs
    them), a skip that says what to install elsewhere."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    why = f"{name} is not installed (apt-get install {APT.get(name, name)})"
    if os.environ.get("CI"):
        pytest.fail(why + "; CI installs it in .ci/test")
    pytest.skip(why + "; CI installs it and fails without it")


def free_port(start: int = 8500, end: int = 8600) -> int:
    """A port nothing listens on, from this project's range when one is free there."""
    for port in [*range(start, end), 0]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))  # noqa: S104 - nginx listens on every address
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def free_ports(n: int) -> list[int]:
    """``n`` free ports, from a stretch of the range of this pytest-xdist worker's own: two
    workers building stacks at once must not both pick a port neither has bound yet."""
    ports: list[int] = []
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slot = int(worker[2:]) % 5 if worker[2:].isdigit() else os.getpid() % 5
    start = 8500 + 20 * slot
    while len(ports) < n:
        port = free_port(start)
        ports.append(port)
        start = port + 1
    return ports


def render_template(env: dict[str, str], template: Path = TEMPLATE) -> str:
    """The template rendered by the real ``envsubst``, given exactly the listed variables."""
    shell_format = " ".join(f"${{{name}}}" for name in NGINX_VARIABLES)
    return subprocess.run(
        [tool("envsubst"), shell_format],
        input=template.read_text(),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def nginx_main_conf(prefix: Path, include: Path) -> Path:
    """A main configuration of the test's own: no daemon, its pid, logs and temporary files
    under ``prefix``, the rendered template included inside ``http {}`` as on Debian."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    # Started by root, nginx's workers would drop to "nobody", who cannot enter pytest's
    # temporary directories; they run as whoever runs the test.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {include};
}}
"""
    )
    return conf


def self_signed(dest: Path) -> tuple[Path, Path]:
    cert, key = dest / "cert.pem", dest / "key.pem"
    subprocess.run(
        [
            tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def env_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads this one: ``NAME=value`` lines, ``#`` comments."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out
