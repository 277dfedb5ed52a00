"""Shared by ``tests/kit`` and ``tests/e2e``: the pytest-zhima plugin installed with pip
(from a copy of ``tests/pytest-zhima``) into a directory of its own, and inner pytest runs
that load it through its ``pytest11`` entry point, as a QA engineer's suite would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "pytest-zhima"


@pytest.fixture(scope="session")
def kit_site(tmp_path_factory) -> Path:
    """``pip install ./tests/pytest-zhima`` (a copy: the build leaves files behind)."""
    work = tmp_path_factory.mktemp("kit")
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
            "-p",
            "no:django",
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
