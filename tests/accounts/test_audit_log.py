"""The write-ahead audit log: a pending row before every request, completed once after it."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import (
    ABANDONED_MSG,
    CallContext,
    CallRow,
    reserve_calls,
    settle_abandoned_calls,
    write_calls,
)
from accounts.models import ApiCall, Tally
from accounts.registry import client_for


def row(account, **kw):
    base = dict(
        created_at=timezone.now(),
        account_id=account.pk,
        actor="test",
        user_id=None,
        endpoint="get_sms",
        params={"itemId": "1001", "phoneNo": "13800000000"},
        http_status=None,
        latency_ms=0,
        outcome="pending",
        msg="",
        raw_body="",
        lease_id=None,
        lease_request_id=None,
        phone="13800000000",
    )
    return CallRow(**{**base, **kw})


@pytest.mark.django_db(transaction=True)
def test_the_pending_row_is_committed_before_the_answer_comes(account, sim):
    client = client_for(account)
    client.verify(context=CallContext.for_task("test"))
    sim.config(latency_ms=1500)
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (client.item_details("1001", CallContext.for_task("slow")), done.set())
    )
    worker.start()
    try:
        deadline = time.monotonic() + 1.2
        seen = []
        while time.monotonic() < deadline and not seen:
            seen = list(ApiCall.objects.filter(actor="task:slow").values_list("outcome", flat=True))
            time.sleep(0.05)
        assert seen == ["pending"] and not done.is_set()
    finally:
        worker.join(5)
    (call,) = ApiCall.objects.filter(actor="task:slow")
    assert call.outcome == "ok" and call.latency_ms >= 1400 and call.http_status == 200
    assert Tally.objects.get(key="calls|details|ok").value == 1


def test_reserved_rows_get_their_ids_in_order_and_are_completed_once(account):
    ids = reserve_calls([row(account, phone=f"1380000000{i}") for i in range(3)])
    assert [ApiCall.objects.get(pk=i).phone for i in ids] == [f"1380000000{i}" for i in range(3)]
    write_calls([row(account, id=ids[0], outcome="ok", http_status=200, msg="first")])
    # A second completion of the same row changes nothing: only a pending row is completed.
    write_calls([row(account, id=ids[0], outcome="transport", msg="second")])
    first = ApiCall.objects.get(pk=ids[0])
    assert (first.outcome, first.msg, first.http_status) == ("ok", "first", 200)
    write_calls([row(account, outcome="refused", msg="no ticket")])  # no id: a new row
    assert ApiCall.objects.count() == 4


def test_rows_a_killed_process_left_pending_are_settled_as_unknown(account):
    old, recent, done = reserve_calls([row(account), row(account), row(account)])
    write_calls([row(account, id=done, outcome="ok")])
    with pytest.raises(TypeError):  # through the ORM the log stays append-only
        ApiCall.objects.filter(pk=old).update(outcome="ok")
    past = timezone.now() - timedelta(minutes=10)
    from django.db import connection

    with connection.cursor() as cur:  # age two rows as if they were written long ago
        cur.execute(
            "UPDATE accounts_apicall SET created_at = %s WHERE id IN (%s, %s)",
            [connection.ops.adapt_datetimefield_value(past), old, done],
        )
    assert settle_abandoned_calls() == 1
    outcomes = dict(ApiCall.objects.values_list("pk", "outcome"))
    assert outcomes == {old: "unknown", recent: "pending", done: "ok"}
    assert ApiCall.objects.get(pk=old).msg == ABANDONED_MSG
    assert Tally.objects.get(key="calls|get_sms|unknown").value == 1
    assert settle_abandoned_calls() == 0


def test_the_audit_page_names_pending_and_unknown_rows(client, personas, account):
    ids = reserve_calls([row(account), row(account)])
    settle_abandoned_calls(now=timezone.now() + timedelta(minutes=10))
    reserve_calls([row(account, phone="13900000000")])
    client.force_login(personas["viewer"])
    page = client.get("/audit/").content.decode()
    assert page.count('class="outcome o-unknown"') == len(ids)
    assert page.count('class="outcome o-pending"') == 1
    filtered = client.get("/audit/", {"outcome": "pending"}).content.decode()
    assert "13900000000" in filtered and 'o-unknown"' not in filtered
    outcomes = Counter(ApiCall.objects.values_list("outcome", flat=True))
    assert outcomes == {"unknown": 2, "pending": 1}
