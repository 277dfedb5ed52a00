"""The TypeScript kit (``kits/playwright-zhima``) for the tests and benches: its locked
node_modules (installed once per package-lock.json, from npm's cache when it can), dist/
built with tsc, and ``npx playwright test`` runs against a live console."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "kits" / "playwright-zhima"
CHROMIUM = "/usr/bin/chromium"


def npm(*args: str, cwd: Path = KIT, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        ["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ensure_built() -> dict[str, float]:
    """``npm ci`` when node_modules does not match package-lock.json (a stamp records the
    lock it was installed from), then ``npm run build``; the seconds each took. One process at
    a time (the test workers each build it for their session): another's ``npm ci`` would
    empty node_modules under this one's ``tsc``."""
    (ROOT / "var").mkdir(exist_ok=True)
    with open(ROOT / "var" / "playwright-zhima.build.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return _build()


def _build() -> dict[str, float]:
    lock = hashlib.sha256((KIT / "package-lock.json").read_bytes()).hexdigest()
    stamp = KIT / "node_modules" / ".installed-from-lock"
    timings = {"npm ci": 0.0}
    if not stamp.exists() or stamp.read_text() != lock:
        started = time.monotonic()
        r = npm("ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline")
        assert r.returncode == 0, r.stdout + r.stderr
        stamp.write_text(lock)
        timings["npm ci"] = time.monotonic() - started
    started = time.monotonic()
    r = npm("run", "build")
    assert r.returncode == 0, r.stdout + r.stderr
    timings["build"] = time.monotonic() - started
    return timings


def kit_env(**env: str) -> dict[str, str]:
    """This environment without the console's own settings, plus ``env``."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("ZHIMA_", "DJANGO_", "PYTEST_"))
    }
    clean.setdefault("CHROMIUM", CHROMIUM)
    clean.update(env)
    return clean


def playwright_test(cwd: Path, env: dict[str, str], *args: str, timeout: float = 600):
    """``npx playwright test`` in ``cwd``; the JSON report (when the config writes one to
    ``ZHIMA_REPORT``) is read back as ``r.report``."""
    r = subprocess.run(
        ["npx", "playwright", "test", *args],
        cwd=cwd, env=kit_env(**env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    report = Path(env.get("ZHIMA_REPORT", "/nonexistent"))
    r.report = json.loads(report.read_text()) if report.exists() else None  # type: ignore[attr-defined]
    return r
