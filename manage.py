#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

# Written by ``bash .ci/start`` (README command (a)) and git-ignored: a development key and
# DJANGO_DEBUG, so that every README example works in a fresh shell. Only manage.py reads it,
# a variable already in the environment wins, and an environment that brings its own secret
# key (a deployment, README "Running for a team") is left alone: it never runs in debug mode
# because someone once ran .ci/start in the same checkout.
LOCAL_SETTINGS = Path(__file__).resolve().parent / ".env.local"


def load_local_settings(path: Path | None = None) -> None:
    path = path or LOCAL_SETTINGS
    if os.environ.get("DJANGO_SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY_FILE"):
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def main() -> None:
    load_local_settings()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
