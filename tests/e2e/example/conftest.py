"""The example suite's own settings: pytest-playwright's ``page`` on Debian's Chromium (your
suite may use Playwright's own browsers and need none of this)."""

import os

import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    extra = {"executable_path": path} if os.path.exists(path) else {}
    return {
        **browser_type_launch_args,
        **extra,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    }
