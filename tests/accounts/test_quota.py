"""Quota that is true: the last reading minus what was spent since (an estimate, "≈"), re-read
by a task after lease requests (at most once per 30 s per account) and on a manager's "refresh
now"; a low-quota banner on the overview."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.audit import CallContext
from accounts.models import ApiCall, DeveloperAccount
from accounts.quota import refresh_quota
from leases import services
from leases.estimates import estimated_quota


def quota_text(body: str) -> str:
    return re.search(r'<strong class="quota"[^>]*>([^<]*)</strong>', body).group(1)


def test_the_overview_shows_the_reading_minus_what_was_spent_since(as_, personas, items, account):
    refresh_quota(account, CallContext.for_task("test"))
    assert quota_text(as_("member").get("/").content.decode()) == "≈ 1,000.00"  # grouped (en)
    services.lease_numbers(personas["member"], items["1002"], key="a", quantity=2)  # 2 × 0.2
    services.lease_numbers(personas["member"], items["1005"], key="b")  # 0.5
    body = as_("member").get("/").content.decode()
    assert quota_text(body) == "≈ 999.10" and "last reading 1000" in body
    account.refresh_from_db()
    assert account.quota == 1000  # the stored reading itself is left alone
    # A new reading starts over: the upstream counted what was spent before it.
    refresh_quota(account, CallContext.for_task("test"))
    assert estimated_quota(account) == account.quota == 999


@pytest.fixture
def queued(db):
    """The tasks the broker holds, taken off it; ``run`` executes the quota re-reads the way
    a worker does."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task

    broker = get_broker()
    broker.purge_queue()

    class Queue:
        def take(self):
            tasks = []
            while broker.queue_size():
                for ack_id, pack in broker.dequeue() or []:
                    tasks.append(SignedPackage.loads(pack))
                    broker.acknowledge(ack_id)
            return [t for t in tasks if t["func"] == "accounts.quota.refresh_task"]

        def run(self, tasks):
            for t in tasks:
                async_task(t["func"], *t["args"], sync=True)

    yield Queue()
    broker.purge_queue()


@pytest.mark.backend
def test_a_lease_request_rereads_the_quota_in_a_task_at_most_every_30_s(
    as_, items, account, queued, django_capture_on_commit_callbacks
):
    c = as_("member")

    def lease(key):
        with django_capture_on_commit_callbacks(execute=True):
            data = {"item": items["1002"].pk, "quantity": 1, "key": key}
            assert c.post(reverse("leases-new"), data).status_code == 302

    def task_reads():
        return ApiCall.objects.filter(endpoint="verify", actor="task:quota").count()

    lease("a" * 32)
    tasks = queued.take()
    # Queued, not called on the request's thread.
    assert [t["args"] for t in tasks] == [(account.pk,)] and task_reads() == 0
    queued.run(tasks)
    assert task_reads() == 1
    account.refresh_from_db()
    assert account.quota == 999 and account.quota_read_at is not None
    lease("b" * 32)  # within 30 s: no second read
    assert queued.take() == []
    cache.delete(f"zhima:quota-soon:{account.pk}")  # 30 s later
    lease("c" * 32)
    queued.run(queued.take())
    assert task_reads() == 2


def test_refresh_now_is_a_managers_button(as_, personas, items, account, sim):
    url = reverse("accounts-quota-refresh", args=[account.pk])
    assert as_("member").post(url).status_code == 403
    assert as_("outsider").post(url).status_code == 404
    assert as_("owner").get(url).status_code == 405
    assert (
        as_("owner")
        .post(reverse("accounts-quota-refresh", args=[1]).replace("/1/", "/x/"))
        .status_code
        == 404
    )
    body = as_("owner").post(url, follow=True).content.decode()
    assert "Quota of Sandbox read: 1000." in body and "Refresh now" in body
    assert "Refresh now" not in as_("member").get("/").content.decode()
    call = ApiCall.objects.filter(endpoint="verify").latest("id")
    assert call.actor == "owner" and call.outcome == "ok"
    sim.config(error_rate=1.0, fault_endpoints="verify")
    body = as_("owner").post(url, follow=True).content.decode()
    assert "could not be read" in body


def test_a_low_quota_banner_uses_the_estimate(as_, personas, items, account):
    refresh_quota(account, CallContext.for_task("test"))
    DeveloperAccount.objects.filter(pk=account.pk).update(low_quota_threshold=1000)
    assert "low on quota" not in as_("member").get("/").content.decode()  # 1000 is not < 1000
    services.lease_numbers(personas["member"], items["1003"], key="e")  # 0.3
    body = as_("member").get("/").content.decode()
    assert "<bdi>Sandbox</bdi> is low on quota: ≈ 999.70 left (threshold 1000)." in body
    assert "low on quota" not in as_("outsider").get("/").content.decode()
