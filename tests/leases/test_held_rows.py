"""``held_rows``: the leases that hold a number, through the (state, next_poll_at) index even
when SQLite's statistics would have the planner scan the table."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leases import services
from leases.models import HELD_STATES, Lease, LeaseState, held_rows

pytestmark = pytest.mark.backend


def test_held_rows_are_the_leases_holding_a_number(personas, items, sim):
    req = services.lease_numbers(personas["member"], items["1002"], key="h" * 32, quantity=6)
    ids = list(Lease.objects.filter(request=req).values_list("pk", flat=True))
    ended = ["received", "releasing", "released", "expired", "failed"]
    for pk, state in zip(ids, ended, strict=False):
        Lease.objects.filter(pk=pk).update(state=state)  # test setup, not a transition
    expected = set(
        Lease.objects.filter(state__in=HELD_STATES).values_list("pk", "account_id", "version")
    )
    assert len(expected) == 3
    assert set(held_rows("pk", "account_id", "version")) == expected
    assert sorted(held_rows("state")) == sorted(
        [(LeaseState.RECEIVED,), (LeaseState.RELEASING,), (LeaseState.WAITING,)]
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner only")
def test_sqlite_reads_them_through_the_index_whatever_its_statistics(personas, items, sim):
    services.lease_numbers(personas["member"], items["1002"], key="p" * 32)
    with connection.cursor() as cur:  # statistics that make a scan look cheaper (one state)
        cur.execute("ANALYZE")
        cur.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'leases_lease'")
        cur.execute(
            "INSERT INTO sqlite_stat1 VALUES ('leases_lease', 'lease_due', '100000 25000 25000'),"
            " ('leases_lease', 'lease_state_time', '100000 25000 1 1')"
        )
        cur.execute("ANALYZE sqlite_schema")
    with CaptureQueriesContext(connection) as ctx:
        assert len(held_rows("pk")) == 1
    (query,) = ctx.captured_queries
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + query["sql"])
        plan = " ".join(str(row[-1]) for row in cur.fetchall())
    assert "USING INDEX lease_due" in plan or "USING COVERING INDEX lease_due" in plan, plan
