"""README command (a), for real: a short summary, logs in var/log/, the README's command line
working in a fresh shell afterwards, and Ctrl-C stopping everything within 5 seconds.

It runs ``.ci/start`` in a copy of the checkout (its own database, ``.env.local`` and logs)
that shares this checkout's ``.venv``, on free ports.
"""

import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkout_copy(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(VENV)
    return dest


def processes_of(root: Path) -> list[str]:
    r = subprocess.run(["pgrep", "-f", f"{root}/.venv/bin/python"], capture_output=True, text=True)
    return r.stdout.split()


def test_start_is_quiet_and_ctrl_c_stops_everything_within_5_seconds(tmp_path):
    stamp = VENV / ".installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if not stamp.exists() or stamp.read_text().strip() != want or not shutil.which("setsid"):
        pytest.skip("needs an installed .venv (bash .ci/start once) and setsid")
    repo = checkout_copy(tmp_path / "repo")
    earlier = repo / "var/log"  # left by an earlier start, readable by all
    earlier.mkdir(parents=True)
    (earlier / "worker.log").write_text("code 123456\n")
    os.chmod(earlier / "worker.log", 0o644)
    os.chmod(earlier, 0o755)  # noqa: S103 (the mode the start must narrow)
    port, sim_port = free_port(), free_port()
    keep = ("HOME", "PATH", "LANG", "ZHIMA_FIELD_KEYS")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PORT=str(port), ZHIMA_SIM_PORT=str(sim_port), DJANGO_SUPERUSER_PASSWORD="pw-start-1")
    out = tmp_path / "terminal.txt"
    proc = subprocess.Popen(
        ["bash", ".ci/start"],
        cwd=repo,
        env=env,
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops" not in out.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.2)
        terminal = out.read_text()
        assert f"http://127.0.0.1:{port}/" in terminal and "admin user  admin" in terminal
        assert "var/log/web.log" in terminal and len(terminal.strip().splitlines()) <= 8
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        web_log = repo / "var/log/web.log"
        deadline = time.monotonic() + 10  # written just after the answer
        while "GET /healthz" not in web_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "GET /healthz" in web_log.read_text()
        assert "GET /healthz" not in out.read_text()  # request logs go to the file
        local = repo / ".env.local"
        assert local.stat().st_mode & 0o077 == 0 and "DJANGO_SECRET_KEY=" in local.read_text()
        # The logs (the worker's hold live codes) are the owner's alone, like the database.
        logs = repo / "var/log"
        assert stat.S_IMODE(logs.stat().st_mode) == 0o700
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in logs.iterdir()}
        assert {"web.log", "worker.log", "setup.log"} <= set(modes), modes
        assert set(modes.values()) == {0o600}, modes
        cli = ["--account", "demo", "--pkey", "demo-pkey", "verify", "--json"]
        fresh = subprocess.run(
            [".venv/bin/python", "manage.py", "zhima", *cli],
            cwd=repo,
            env={"HOME": env["HOME"], "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert fresh.returncode == 0 and '"valid": "Y"' in fresh.stdout, fresh.stderr
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        proc.wait(timeout=10)
        stopped = time.monotonic() - started
        assert stopped < 5, stopped
        time.sleep(0.2)
        assert processes_of(repo) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in processes_of(repo):
            os.kill(int(pid), signal.SIGKILL)
