"""Two managers demoting or removing each other at the same moment, each on a thread of its
own with its own database connection (as two web processes): the account keeps a manager."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role

pytestmark = [pytest.mark.backend, pytest.mark.django_db(transaction=True)]

ROUNDS = 12


def _at_once(requests) -> list[int]:
    """Send each ``(user, url, data)`` on a thread of its own, all released together."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []

    def run(user, url, data):
        c = Client()
        c.force_login(user)
        barrier.wait()
        try:
            statuses.append(c.post(url, data).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=r) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def _two_managers(account, personas, make_user):
    second = make_user("second")
    Membership.objects.filter(user=personas["owner"]).update(role=Role.MANAGER)
    return (
        Membership.objects.get(user=personas["owner"], account=account),
        Membership.objects.create(user=second, account=account, role=Role.MANAGER),
    )


def _demote(m: Membership) -> dict:
    p = f"m{m.pk}"
    return {f"{p}-role": Role.OPERATOR, f"{p}-daily_budget": "", f"{p}-monthly_budget": ""}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_managers_demoting_each_other_leave_one_manager(account, personas, make_user, round_):
    a, b = _two_managers(account, personas, make_user)
    statuses = _at_once(
        [
            (a.user, reverse("accounts-member-update", args=[b.pk]), _demote(b)),
            (b.user, reverse("accounts-member-update", args=[a.pk]), _demote(a)),
        ]
    )
    managers = Membership.objects.filter(account=account, role=Role.MANAGER)
    assert managers.count() == 1, statuses
    assert sorted(statuses)[0] == 302, "one of the two changes is made"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_managers_removing_each_other_leave_one_manager(account, personas, make_user, round_):
    a, b = _two_managers(account, personas, make_user)
    statuses = _at_once(
        [
            (a.user, reverse("accounts-member-remove", args=[b.pk]), {}),
            (b.user, reverse("accounts-member-remove", args=[a.pk]), {}),
        ]
    )
    managers = Membership.objects.filter(account=account, role=Role.MANAGER)
    assert managers.count() == 1, statuses
