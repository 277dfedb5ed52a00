"""A From date after the To date says why nothing can match, on History and the audit log."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/history/", "/audit/", "/history.csv", "/audit.csv"])
def test_a_from_date_after_the_to_date_is_explained(client, personas, path):
    client.force_login(personas["member"])
    r = client.get(path, {"since": "2026-05-10", "until": "2026-05-01"})
    reason = "The To date (2026-05-01) is before the From date (2026-05-10): no day is in between."
    if path.endswith(".csv"):
        assert r.status_code == 400 and reason in r.content.decode()
    else:
        assert r.status_code == 200 and reason in r.content.decode()
    same_day = client.get(path, {"since": "2026-05-01", "until": "2026-05-01"})
    assert same_day.status_code == 200
