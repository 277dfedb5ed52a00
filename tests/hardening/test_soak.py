"""The short fault soak (the full one: ``bench/soak.py``, figures in RELIABILITY.md)."""

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import test_database_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCALE = 20


def test_a_short_soak_loses_nothing(settings):
    import soak

    env = soak.console_env(SCALE, workers=1)
    for key, value in env.items():
        if key.startswith("ZHIMA_"):
            setattr(settings, key, float(value) if "." in value else int(value))
    env.update(
        {
            "DATABASE_URL": test_database_url(),
            "DJANGO_DEBUG": "true",
            "ZHIMA_FIELD_KEYS": os.environ["ZHIMA_FIELD_KEYS"],
        }
    )
    figures = soak.run(
        leases=80,
        accounts=2,
        scale=SCALE,
        kill_every=15,
        max_minutes=1.5,
        workers=1,
        env=env,
        say=lambda *a: None,
    )
    print(figures)
    assert figures["leases"] >= 40
    assert figures["worker kills"] >= 2
    assert figures["SMS delivered"] > 0 and figures["SMS lost"] == 0
    assert figures["SMS stored twice"] == 0
    assert figures["numbers without a lease"] == 0
    assert figures["numbers left leased upstream"] == 0
    assert figures["numbers force-released"] == 0
    assert figures["leases not final"] == 0
    assert figures["get-numbers repeated after an ambiguous failure"] == 0
    # Write-ahead audit: every request served has its row, even those in flight at a SIGKILL;
    # a row without a served request can only be one whose outcome is unknown.
    assert figures["audit rows lost"] == 0
    unknown = figures["audit rows with an unknown outcome (worker killed mid-call)"]
    assert figures["audit rows for requests never served"] <= unknown
