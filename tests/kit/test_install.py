"""``pip install ./kits/pytest-zhima`` in a checkout, as the README says, leaves pip's build
files next to the kit; the console's own lint, types and tests must still pass in that
checkout, with the plugin installed and loaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def checkout_copy(root: Path, dest: Path) -> Path:
    """The repository's tracked files (a fresh clone's worth), with the mypy cache so the
    type check is incremental."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = root / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    if (root / ".mypy_cache").is_dir():
        shutil.copytree(root / ".mypy_cache", dest / ".mypy_cache")
    return dest


def install_then_check(repo: Path, kit: str, site: Path) -> list[tuple[str, int, str]]:
    """pip-install the kit from the checkout (in place, as a user would), then run the
    console's checks there; each check's (command, exit code, output)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), kit],
        cwd=repo, check=True, timeout=300,
    )  # fmt: skip
    assert (repo / kit / "build").is_dir(), "pip's build files are next to the kit"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": "sqlite://:memory:",
        "PYTHONPATH": str(site),  # the plugin installed: its entry point is found
    }
    checks = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
        [sys.executable, "-m", "pytest", "-p", "no:schemathesis",
         "tests/leases/test_api_token_command.py"],
    ]  # fmt: skip
    results = []
    for cmd in checks:
        run_env = env if cmd[0] != sys.executable else {
            k: v for k, v in env.items() if k != "DATABASE_URL"
        }  # fmt: skip
        r = subprocess.run(cmd, cwd=repo, env=run_env, capture_output=True, text=True, timeout=600)
        name = " ".join([Path(cmd[0]).name, *cmd[1:]])
        results.append((name, r.returncode, r.stdout + r.stderr))
    return results


def test_installing_the_kit_keeps_lint_types_and_tests_clean(tmp_path):
    repo = checkout_copy(ROOT, tmp_path / "repo")
    results = install_then_check(repo, "./kits/pytest-zhima", tmp_path / "site")
    failed = [(cmd, out[-2000:]) for cmd, code, out in results if code != 0]
    assert not failed, failed
    assert "zhima-0" in results[-1][2], "the console's tests ran with the plugin loaded"
