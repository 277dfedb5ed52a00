"""The lease page's counts agree with what they link to and with the audit log."""

from __future__ import annotations

import re
from html import unescape

import pytest

from accounts.models import ApiCall
from leases import services
from leases.models import Lease, LeaseState
from leases.poller import Poller


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.3
    settings.ZHIMA_READ_TIMEOUT = 0.5
    return settings


def lease(personas, item, key, quantity=1):
    req = services.lease_numbers(personas["member"], item, key=key, quantity=quantity)
    return list(Lease.objects.filter(request=req).order_by("pk"))


def calls_link(html: str) -> tuple[int, str]:
    m = re.search(r'<a href="(/audit/\?[^"]*)">(\d+) upstream calls?</a>', html)
    assert m, "no upstream-calls link"
    return int(m[2]), unescape(m[1])


@pytest.mark.parametrize("quantity", [1, 3])
def test_the_upstream_calls_count_is_the_linked_list(client, personas, items, sim, fast, quantity):
    *_others, one = lease(personas, items["1002"], f"calls-{quantity}", quantity)
    sim.deliver(one.phone, "验证码 4711")
    Poller(run_seconds=1.0).run()
    one.refresh_from_db()
    assert one.state != LeaseState.WAITING
    client.force_login(personas["member"])
    count, link = calls_link(client.get(f"/leases/{one.pk}/").content.decode())
    listed = client.get(link)
    rows = list(listed.context["rows"])
    assert count == len(rows)
    assert {c.endpoint for c in rows} >= {"get_numbers", "get_sms"}
    assert f'href="/leases/{one.pk}/">lease {one.pk}</a>' in listed.content.decode()


def test_the_poll_that_ends_a_lease_is_counted(personas, items, sim, fast):
    sim.config(sms_lost_rate=1.0, sms_timeout_rate=0, sms_delay_min=0, sms_delay_max=0.05)
    (one,) = lease(personas, items["1001"], "lost")
    Poller(run_seconds=1.0).run()
    one.refresh_from_db()
    assert one.state == LeaseState.FAILED
    polls = ApiCall.objects.filter(lease_id=one.pk, endpoint="get_sms").count()
    assert polls >= 1 and one.polls == polls


def test_the_timeline_names_each_event_and_who_did_it(client, personas, items, sim, fast):
    (one,) = lease(personas, items["1001"], "timeline")
    sim.deliver(one.phone, "【微信】验证码 604218，5分钟内有效。")
    Poller(run_seconds=1.2).run()
    one.refresh_from_db()
    assert one.state == LeaseState.RELEASED
    client.force_login(personas["member"])
    html = client.get(f"/leases/{one.pk}/").content.decode()
    timeline = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    items_ = [
        re.sub(r"<[^>]+>", "", li).strip().split(" ", 1)[1] for li in timeline.split("<li>")[1:]
    ]
    assert items_[0] == "leased: 1001 · member"
    assert items_[1] == "received: 604218 · automatically (poller)"
    assert items_[-1] == "released: code received · automatically (auto-release)"
    # The poll count is a summary under the list, not a numbered event.
    assert "polled" not in timeline
    assert re.search(r'<p class="muted small polls">polled \d+ times?', html)
