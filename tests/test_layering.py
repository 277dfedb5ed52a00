"""The import-linter contracts in pyproject.toml hold, and each one fails when broken: the
contracts run on a copy of the code with one forbidden import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("accounts", "leases", "zhima_site")


def lint(where: Path, contract: str = "") -> subprocess.CompletedProcess[str]:
    args = [str(LINT), "--no-cache", *(["--contract", contract] if contract else [])]
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(args, cwd=where, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The packages and the configuration, without caches."""
    where = tmp_path_factory.mktemp("layering")
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return where


def test_the_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("contract", "module", "line"),
    [
        ("accounts-below-leases", "accounts/quota.py", "import leases.models"),
        ("upstream-without-django", "accounts/upstream/wire.py", "import django.conf"),
        ("upstream-without-django", "accounts/upstream/simulator.py", "import accounts.models"),
        (
            "client-built-by-registry",
            "leases/views.py",
            "from accounts.upstream.client import ZhimaClient",
        ),
        (
            "upstream-through-services",
            "leases/views.py",
            "from accounts.registry import client_for",
        ),
        ("site-imports-apps-at-its-edges", "zhima_site/middleware.py", "import leases.models"),
        ("leases-layers", "leases/services/leasing.py", "import leases.webhooks.delivery"),
        ("leases-layers", "leases/models.py", "import leases.services"),
        ("leases-layers", "leases/api/views.py", "import leases.views"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(copy, contract, module, line):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # a deliberate violation\n")
    try:
        broken = lint(copy, contract)
    finally:
        path.write_text(original)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "1 broken" in broken.stdout
    assert lint(copy, contract).returncode == 0  # and it is that line
