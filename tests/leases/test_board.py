"""The board of one lease request, recent codes on Active, dismissals; copy buttons."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from leases import services
from leases.models import Lease, LeaseRequest, LeaseState
from leases.poller import Poller

HX = {"HTTP_HX_REQUEST": "true"}
CODES = ["481209", "736251", "928137"]


@pytest.fixture
def three(personas, items, sim):
    """Three numbers of item 1002 leased in one request (none of whose SMS gets lost)."""
    sim.config(sms_lost_rate=0, sms_timeout_rate=0)
    return services.lease_numbers(personas["member"], items["1002"], key="b" * 32, quantity=3)


def deliver_all(sim, settings, req, codes=CODES):
    """Each number gets its SMS; the poller reads them and releases the numbers (item 1002
    releases a number when its code arrives)."""
    settings.ZHIMA_POLL_INTERVAL = 0.1
    leases = list(Lease.objects.filter(request=req).order_by("id"))
    for lease, code in zip(leases, codes, strict=True):
        assert sim.deliver(lease.phone, f"【测试】您的验证码是 {code}，5分钟内有效").ok
    Lease.objects.filter(request=req).update(next_poll_at=leases[0].leased_at)
    Poller(run_seconds=2.5).run()
    return leases


def mark_of(body: str) -> str:
    return re.search(r"\?v=([\d-]+)", body).group(1)


def test_it_requires_login_and_membership(client, as_, three):
    url = reverse("leases-board", args=[three.pk])
    assert client.get(url).status_code == 302
    assert as_("outsider").get(url).status_code == 404
    assert as_("outsider").get(url, **HX).status_code == 404
    for bad in ("999999", "abc", "-1", "1e3"):
        bad_url = reverse("leases-board", args=[1]).replace("/1/", f"/{bad}/")
        assert as_("member").get(bad_url).status_code == 404
    assert as_("viewer").get(url).status_code == 200
    assert as_("member").post(url).status_code == 405


def test_it_lists_every_number_grouped_with_copy_buttons(as_, three):
    body = as_("viewer").get(reverse("leases-board", args=[three.pk])).content.decode()
    leases = Lease.objects.filter(request=three)
    assert leases.count() == 3
    for lease in leases:
        p = lease.phone
        assert f"<span>{p[:3]}</span><span>{p[3:7]}</span><span>{p[7:]}</span>" in body
        assert f'data-copy="{p}"' in body
    assert body.count("waiting…") == 3
    assert 'data-poll="1000"' in body


def test_the_lease_form_lands_on_the_board_after_several_numbers(as_, items, sim):
    r = as_("member").post(
        reverse("leases-new"), {"item": items["1002"].pk, "quantity": 3, "key": "f" * 32}
    )
    req = LeaseRequest.objects.get(key="f" * 32)
    assert r.status_code == 302 and r["Location"] == reverse("leases-board", args=[req.pk])


def test_codes_stay_on_the_board_after_their_numbers_are_released(as_, three, sim, settings):
    c = as_("member")
    url = reverse("leases-board", args=[three.pk])
    mark = mark_of(c.get(url, **HX).content.decode())
    assert c.get(url + f"?v={mark}", **HX).status_code == 204
    deliver_all(sim, settings, three)
    assert set(Lease.objects.filter(request=three).values_list("state", flat=True)) == {
        LeaseState.RELEASED
    }
    assert sim.leases() == []
    frag = c.get(url + f"?v={mark}", **HX)
    body = frag.content.decode()
    assert frag.status_code == 286  # every number finished: the board stops polling
    assert "<html" not in body and "data-poll" not in body
    for code in CODES:
        assert f'data-copy="{code}"' in body
    assert body.count('class="state s-released"') == 3


def test_a_dismissed_code_leaves_the_board_and_active_but_not_the_history(
    as_, three, sim, settings
):
    leases = deliver_all(sim, settings, three)
    c = as_("member")
    board = reverse("leases-board", args=[three.pk])
    active = c.get(reverse("leases-active")).content.decode()
    assert all(code in active for code in CODES)
    assert "Codes received in the last 10 minutes" in active
    r = c.post(reverse("leases-dismiss", args=[leases[0].pk]), {"next": board})
    assert r.status_code == 302 and r["Location"] == board
    r = c.post(reverse("leases-dismiss", args=[leases[1].pk]), **HX)
    assert r.status_code == 200 and r.content == b""
    body = c.get(board).content.decode()
    assert CODES[0] not in body and CODES[1] not in body and CODES[2] in body
    assert "2 more numbers are in the history." in body
    active = c.get(reverse("leases-active")).content.decode()
    assert CODES[0] not in active and CODES[2] in active
    assert CODES[0] in c.get(reverse("leases-history")).content.decode()
    # Another member's board is theirs: dismissals are per member.
    assert CODES[0] in as_("viewer").get(board).content.decode()


def test_dismiss_checks_membership_method_and_keeps_a_held_number(as_, three, sim):
    lease = Lease.objects.filter(request=three).first()
    url = reverse("leases-dismiss", args=[lease.pk])
    assert as_("outsider").post(url).status_code == 404
    assert as_("member").get(url).status_code == 405
    assert (
        as_("member").post(reverse("leases-dismiss", args=[1]).replace("/1/", "/abc/")).status_code
        == 404
    )
    r = as_("member").post(url, {"next": "https://evil.example/"})
    assert r["Location"] == reverse("leases-board", args=[three.pk])
    body = as_("member").get(reverse("leases-board", args=[three.pk])).content.decode()
    assert f'data-copy="{lease.phone}"' in body  # still held: it stays


def test_a_code_leaves_the_board_after_30_minutes_and_active_after_10(as_, three, sim, settings):
    deliver_all(sim, settings, three)
    c = as_("member")
    qs = Lease.objects.filter(request=three)
    for minutes, on_active, on_board in ((9, True, True), (11, False, True), (31, False, False)):
        back = timedelta(minutes=minutes)
        for lease in Lease.objects.filter(request=three):
            qs.filter(pk=lease.pk).update(
                received_at=lease.received_at - back, ended_at=lease.ended_at - back
            )
        active = c.get(reverse("leases-active")).content.decode()
        board = c.get(reverse("leases-board", args=[three.pk])).content.decode()
        assert (CODES[0] in active) is on_active, minutes
        assert (CODES[0] in board) is on_board, minutes
        for lease in Lease.objects.filter(request=three):  # back to now for the next round
            qs.filter(pk=lease.pk).update(
                received_at=lease.received_at + back, ended_at=lease.ended_at + back
            )
    assert "3 more numbers are in the history." in board


def test_release_the_numbers_still_held(as_, three, sim):
    url = reverse("leases-board-release", args=[three.pk])
    assert as_("viewer").post(url).status_code == 403
    assert as_("outsider").post(url).status_code == 404
    r = as_("member").post(url)
    assert r.status_code == 302 and r["Location"] == reverse("leases-board", args=[three.pk])
    assert Lease.objects.filter(request=three, state=LeaseState.RELEASED).count() == 3
    assert sim.leases() == []


def test_a_finished_board_offers_the_same_request_again(as_, three, sim, settings):
    board = reverse("leases-board", args=[three.pk])
    first = Lease.objects.filter(request=three).order_by("id").first()
    again = f"{reverse('leases-new')}?again={first.pk}&amp;quantity=3"
    assert again not in as_("member").get(board).content.decode()  # numbers still held
    deliver_all(sim, settings, three)  # every code in, every number released
    assert again in as_("member").get(board).content.decode()
    assert again not in as_("viewer").get(board).content.decode()  # a viewer cannot lease
    body = as_("member").get(again.replace("&amp;", "&")).content.decode()
    assert re.search(r'name="quantity" value="3"', body)


def test_latest_codes_on_the_overview_have_copy_buttons(as_, three, sim, settings):
    deliver_all(sim, settings, three)
    body = as_("viewer").get(reverse("leases-overview")).content.decode()
    for code in CODES:
        assert f'data-copy="{code}"' in body
    for lease in Lease.objects.filter(request=three):
        assert f'data-copy="{lease.phone}"' in body


def test_a_refused_request_says_so_on_its_board(as_, personas, items):
    item = items["1002"]
    req = LeaseRequest.objects.create(
        key="r" * 32,
        account=item.account,
        item=item,
        user=personas["member"],
        outcome=LeaseRequest.Outcome.REFUSED,
        msg="余额不足，请充值",
    )
    body = as_("member").get(reverse("leases-board", args=[req.pk])).content.decode()
    assert "This request leased no number." in body and "余额不足，请充值" in body
    assert "data-poll" not in body


@pytest.mark.backend
def test_the_board_and_its_fragment_use_a_few_queries_however_many_numbers(
    as_, personas, items, sim
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = as_("member")
    counts = []
    for key, n in (("s", 1), ("t", 10)):
        req = services.lease_numbers(personas["member"], items["1002"], key=key * 32, quantity=n)
        url = reverse("leases-board", args=[req.pk])
        with CaptureQueriesContext(connection) as page:
            c.get(url)
        with CaptureQueriesContext(connection) as frag:
            c.get(url, **HX)
        counts.append((len(page), len(frag)))
    assert counts[0] == counts[1] and counts[1][0] <= 8, counts
