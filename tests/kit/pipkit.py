"""Shared by ``tests/kit``, ``tests/e2e`` and ``bench/``: the pytest-zhima plugin installed
with pip (from a copy of ``kits/pytest-zhima``) into a directory of its own, and inner pytest
runs that load it through its ``pytest11`` entry point, as a QA engineer's suite would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "kits" / "pytest-zhima"


@pytest.fixture(scope="session")
def kit_site(tmp_path_factory) -> Path:
    return install_kit(tmp_path_factory.mktemp("kit"))


def install_kit(work: Path, *extra: str) -> Path:
    """``pip install ./kits/pytest-zhima`` (a copy: the build leaves files behind) into
    ``work/site``, with ``extra`` packages (from the index) beside it."""
    src = work / "pytest-zhima"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(src),
            *extra,
        ],
        check=True,
        timeout=300,
    )
    assert (site / "pytest_zhima").is_dir()
    return site


def run_pytest(site: Path, test_dir: Path, env: dict, *args: str, timeout: float = 300):
    """An inner ``pytest`` in a subprocess: the plugin comes from ``site`` alone (this
    repository's own settings and plugins stay out: no Django here)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("ZHIMA_", "DJANGO_", "PYTEST_"))
    }
    clean.update(env)
    clean["PYTHONPATH"] = str(site)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # The console's own test tools in this virtualenv are no part of a QA suite
            # (schemathesis alone takes seconds to import).
            "-p",
            "no:django",
            "-p",
            "no:schemathesis",
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:anyio",
            "-p",
            "no:cacheprovider",
            "-rA",
            "--rootdir",
            str(test_dir),
            *args,
        ],
        cwd=test_dir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
