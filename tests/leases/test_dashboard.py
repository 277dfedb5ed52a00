"""The overview's figures (leases/dashboard.py): held numbers, codes today, spend against the
budgets, the quota trend and the upstream's health, as the overview page shows them."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import ApiCall, Outcome
from leases import dashboard, services
from leases.models import Lease


@pytest.fixture
def world(personas, items, sim):
    member = personas["member"]
    m = member.memberships.get()
    m.daily_budget, m.monthly_budget = Decimal("10"), None
    m.save()
    req = services.lease_numbers(member, items["1002"], key="d" * 32, quantity=2)
    services.lease_numbers(personas["owner"], items["1003"], key="e" * 32)
    assert Lease.objects.filter(request=req).count() == 2
    return personas


def figures_for(user):
    members = list(user.memberships.select_related("account"))
    return dashboard.figures(user, dashboard.account_cards(user, members, {}), {})


def test_it_counts_the_teams_held_numbers_and_the_members_own(world):
    f = figures_for(world["member"])
    assert (f.held, f.held_mine) == (3, 2)


def test_it_measures_spend_against_the_budgets_there_are(world):
    f = figures_for(world["member"])
    spent = sum(Lease.objects.filter(user=world["member"]).values_list("cost", flat=True))
    assert f.today.spent == f.month.spent == spent > 0
    assert f.today.budget == Decimal("10") and f.today.percent == int(spent * 10)
    assert f.month.budget is None and f.month.percent == 0  # no monthly budget: no gauge


def test_the_trend_has_seven_days_ending_today_with_todays_spend(world):
    f = figures_for(world["member"])
    assert len(f.trend) == 7 and f.trend[-1][1] == sum(Lease.objects.values_list("cost", flat=True))
    assert f.bars[-1][2] == 10 and all(h == 0 for _d, _s, h in f.bars[:-1])


def test_upstream_health_counts_faults_not_refusals(world, account):
    def call(outcome):
        ApiCall.objects.create(account=account, actor="t", endpoint="get_sms", outcome=outcome)

    assert figures_for(world["outsider"]).health.state == "idle"  # no call on that account
    assert figures_for(world["member"]).health.state == "ok"
    call(Outcome.REFUSED)
    assert figures_for(world["member"]).health.state == "ok"  # the upstream answered
    call(Outcome.TRANSPORT)
    health = figures_for(world["member"]).health
    assert health.state == "degraded" and health.faults == 1 and health.last_fault_at
    for _ in range(health.calls):
        call(Outcome.UNREADABLE)
    assert figures_for(world["member"]).health.state == "down"


def test_the_overview_shows_the_figures(as_, world):
    body = as_("member").get(reverse("leases-overview")).content.decode()
    for text in ("Numbers held now", "Codes received today", "Your spend today",
                 "Your spend this month", "Quota left", "Upstream", "Latest codes"):  # fmt: skip
        assert text in body, text
    assert '<meter min="0" max="100"' in body  # the daily budget's gauge
