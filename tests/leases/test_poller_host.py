"""An account whose key cannot be read fails alone; the poller's host made explicit: its
django-q2 timeout, the system check, the sweep off the poll loop, the lease id on its lines."""

import logging
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.utils import timezone

from accounts.logging import ContextFilter
from accounts.models import Alert, ApiCall, DeveloperAccount, Membership, Role
from accounts.registry import KeyUnreadable, client_for, forget_clients
from accounts.upstream.errors import UpstreamError
from leases import services, tasks
from leases.errors import AmbiguousLease, ServiceError
from leases.models import Item, Lease, LeaseRequest, LeaseState
from leases.poller import Poller, task_seconds
from tests.leases.test_cluster import ROOT, start_cluster, wait_for


def foreign_token(pkey: str = "demo-pkey") -> str:
    """A pkey encrypted under a key that is not in ZHIMA_FIELD_KEYS."""
    return Fernet(Fernet.generate_key()).encrypt(pkey.encode()).decode()


@pytest.fixture
def broken(personas, sim):
    """A second account on the simulator whose stored key cannot be decrypted, with an item,
    one waiting lease and one lease past its wait limit (due for release)."""
    acc = DeveloperAccount(name="Broken", upstream_account="demo", base_url=sim.base_url)
    acc.pkey_encrypted = foreign_token()
    acc.save()
    personas["owner"].email = "owner@example.com"
    personas["owner"].save()
    Membership.objects.create(user=personas["owner"], account=acc, role=Role.MANAGER)
    item = Item.objects.create(account=acc, item_id="1002", name="broken item", status="1")
    now = timezone.now()
    deadline = now + timedelta(minutes=20)
    for phone, wait in (("13900000001", now + timedelta(minutes=5)), ("13900000002", now)):
        Lease.objects.create(
            account=acc,
            item=item,
            phone=phone,
            next_poll_at=now,
            wait_deadline=wait,
            release_deadline=deadline,
        )
    return acc


def test_an_unreadable_key_is_an_upstream_error_naming_the_account(broken):
    with pytest.raises(UpstreamError) as info:
        client_for(broken)
    assert isinstance(info.value, KeyUnreadable)
    assert info.value.ambiguous is False and "'Broken'" in str(info.value)


def test_a_lease_on_an_unreadable_key_fails_cleanly_and_sends_nothing(personas, broken, sim):
    Membership.objects.create(user=personas["member"], account=broken, role=Role.OPERATOR)
    item = broken.items.get()
    with pytest.raises(ServiceError) as info:
        services.lease_numbers(personas["member"], item, key="k" * 32)
    assert not isinstance(info.value, AmbiguousLease)  # nothing was sent
    assert LeaseRequest.objects.get(key="k" * 32).outcome == LeaseRequest.Outcome.FAILED
    assert sim.stats()["requests"] == {}


def test_refresh_quotas_goes_on_after_an_unreadable_key(broken, account, sim):
    out = tasks.refresh_quotas()
    assert out["Broken"].startswith("error:") and "cannot be decrypted" in out["Broken"]
    assert out["Sandbox"] == 1000 and out["Other"].startswith("error:")  # "other" is unknown
    account.refresh_from_db()
    assert account.quota == 1000


def test_refresh_items_goes_on_after_an_unreadable_key(broken, items, sim):
    out = tasks.refresh_items()
    assert out[f"{broken.pk}:1002"].startswith("error:")
    assert [v for k, v in out.items() if k.startswith(f"{items['1001'].account_id}:")] == [
        "ok"
    ] * len(items)


def test_reconcile_goes_on_after_an_unreadable_key(broken, account, personas, items, sim):
    for acc, key in ((broken, "b"), (account, "a")):
        LeaseRequest.objects.create(
            key=key * 32,
            account=acc,
            item=acc.items.first(),
            user=personas["owner"],
            outcome=LeaseRequest.Outcome.AMBIGUOUS,
            finished_at=timezone.now(),
        )
    Lease.objects.filter(account=broken).update(state=LeaseState.EXPIRED)
    out = tasks.reconcile_accounts()
    assert out["Broken"].startswith("error:") and out["Sandbox"] == "released"


def test_an_unreadable_key_raises_an_alert_that_names_it_and_clears(broken, account, sim):
    out = tasks.check_alerts()
    assert "key_unreadable" in out["Broken"] and "key_unreadable" not in out["Sandbox"]
    alert = Alert.objects.get(account=broken, kind="key_unreadable", active=True)
    assert "Broken" in alert.text
    assert [m.subject for m in mail.outbox] == [
        "[Zhima Console] Broken: the stored key cannot be decrypted"
    ]
    tasks.check_alerts()
    assert len(mail.outbox) == 1  # once, not once a minute
    broken.set_pkey("demo-pkey")
    broken.save()
    tasks.check_alerts()
    assert not Alert.objects.get(account=broken, kind="key_unreadable").active
    assert mail.outbox[-1].subject.startswith("[Zhima Console] Broken: recovered")


def test_the_poller_polls_the_healthy_account_and_outlives_the_unreadable_one(
    broken, personas, items, sim, settings
):
    settings.ZHIMA_POLL_INTERVAL = 0.5
    req = services.lease_numbers(personas["member"], items["1002"], key="h" * 32, quantity=3)
    Lease.objects.filter(request=req).update(next_poll_at=timezone.now())
    totals = Poller(run_seconds=2.6, concurrency=4).run()
    times = defaultdict(list)
    for call in ApiCall.objects.filter(endpoint="get_sms", account=items["1002"].account):
        times[call.lease_id].append(call.created_at)
    assert len(times) == 3
    for stamps in times.values():
        stamps.sort()
        assert len(stamps) >= 5 and max((b - a).total_seconds() for a, b in pairwise(stamps)) < 1
    # The broken account: its polls are on record as not sent, its due release is retried,
    # and the alert names it at once.
    bad = ApiCall.objects.filter(account=broken, endpoint="get_sms")
    assert bad.exists() and all(m.startswith("not sent") for m in bad.values_list("msg", flat=True))
    assert Lease.objects.get(phone="13900000002").state == LeaseState.RELEASING
    assert totals.get("retry", 0) >= 1
    assert Alert.objects.get(account=broken, kind="key_unreadable").active
    assert sim.stats()["requests"].get("release", 0) == 0


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []
        self.addFilter(ContextFilter())

    def emit(self, record):
        self.records.append(record)


def test_every_poller_line_about_a_lease_carries_its_id(broken, settings):
    handler = _Records()
    logger = logging.getLogger("leases.poller")
    logger.addHandler(handler)
    try:
        Poller(run_seconds=0.5).run()
    finally:
        logger.removeHandler(handler)
    lines = [r for r in handler.records if r.getMessage().startswith("poll not sent")]
    ids = {str(x) for x in Lease.objects.filter(account=broken).values_list("pk", flat=True)}
    assert lines and {str(r.lease_id) for r in lines} <= ids


@pytest.mark.django_db(transaction=True)  # the sweep's thread must see the leases
def test_a_slow_release_does_not_stall_the_polls(personas, items, sim, settings):
    settings.ZHIMA_POLL_INTERVAL = 0.5  # the read timeout is 2 s (tests/env.py)
    req = services.lease_numbers(personas["member"], items["1002"], key="w" * 32, quantity=2)
    slow = services.lease_numbers(personas["member"], items["1001"], key="s" * 32)
    Lease.objects.filter(request=slow).update(wait_deadline=timezone.now())  # due for release
    sim.config(timeout_rate=1.0, timeout_seconds=1.6, fault_endpoints="release")
    Poller(run_seconds=4, concurrency=4).run()
    assert Lease.objects.get(request=slow).state == LeaseState.EXPIRED
    release = ApiCall.objects.get(endpoint="release")
    assert release.latency_ms >= 1600
    for lease in Lease.objects.filter(request=req):
        stamps = sorted(
            ApiCall.objects.filter(endpoint="get_sms", lease_id=lease.pk).values_list(
                "created_at", flat=True
            )
        )
        gaps = [(b - a).total_seconds() for a, b in pairwise(stamps)]
        assert len(stamps) >= 6 and max(gaps) < 1.3, gaps


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_real_cluster_keeps_the_cadence_beside_an_unreadable_key(broken, personas, items, sim):
    import os
    import signal
    import time

    from django_q.models import Task
    from django_q.tasks import async_task

    from leases.tasks import ensure_schedules

    healthy = items["1002"].account
    sim.config(sms_lost_rate=0, sms_timeout_rate=0)  # the healthy leases wait throughout
    req = services.lease_numbers(personas["member"], items["1002"], key="c" * 32, quantity=2)
    ensure_schedules()
    async_task("leases.tasks.run_poller", 0)
    cluster = start_cluster(sim, ZHIMA_POLL_INTERVAL="5", ZHIMA_POLLER_RUN_SECONDS="6")
    polls = ApiCall.objects.filter(endpoint="get_sms", account=healthy)
    try:
        assert wait_for(polls.exists, 30)
        time.sleep(22)  # several handovers of the loop, each with the broken release due
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)
    for lease in Lease.objects.filter(request=req):
        stamps = sorted(polls.filter(lease_id=lease.pk).values_list("created_at", flat=True))
        gaps = [(b - a).total_seconds() for a, b in pairwise(stamps)]
        assert len(stamps) >= 5 and max(gaps) < 6.5, gaps  # the 5 s cadence held
        print(f"healthy lease: {len(stamps)} polls, gaps {min(gaps):.2f}–{max(gaps):.2f} s")
    # Every loop ran its time and handed over; none died.
    runs = Task.objects.filter(func="leases.tasks.run_poller")
    assert runs.filter(success=True).count() >= 3 and not runs.filter(success=False).exists()
    due = Lease.objects.get(phone="13900000002")
    assert due.state == LeaseState.RELEASING and due.account_id == broken.pk  # retried
    assert sim.stats()["requests"].get("release", 0) == 0
    assert Alert.objects.get(account=broken, kind="key_unreadable").active


# -- the host ----------------------------------------------------------------------------------


def _settings(env: dict) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps(s.Q_CLUSTER))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "zhima_site.settings", "DJANGO_DEBUG": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cluster_timeout_follows_the_poller_run_and_the_upstream_timeouts():
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIMA_", "Q_"))}
    short = _settings(base)
    long = _settings({**base, "ZHIMA_POLLER_RUN_SECONDS": "240", "ZHIMA_READ_TIMEOUT": "30"})
    assert short["timeout"] >= 6 + 1 + 55 + 2 * (3.05 + 10)
    assert long["timeout"] >= 7 + 240 + 2 * (3.05 + 30)
    for q in (short, long):
        assert q["retry"] > q["timeout"]


def _errors():
    from django.core.checks import registry

    from leases.checks import poller_host

    assert poller_host in registry.registry.get_checks()  # run by manage.py check, qcluster
    return sorted(e.id for e in poller_host())


def test_the_system_check_holds_the_host(settings):
    assert _errors() == []
    settings.ZHIMA_POLLER_SLOTS = settings.Q_CLUSTER["workers"]
    assert _errors() == ["leases.E001"]
    settings.ZHIMA_POLLER_SLOTS = 1
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 90, "retry": 90}
    settings.ZHIMA_POLLER_RUN_SECONDS = 120
    assert task_seconds() > 90
    assert _errors() == ["leases.E002", "leases.E003"]


def test_a_key_entered_again_is_used_at_once(broken):
    """A key re-entered after the failure is used at once (no failure is remembered)."""
    with pytest.raises(KeyUnreadable):
        client_for(broken)
    broken.set_pkey("demo-pkey")
    broken.save()
    assert client_for(broken).verify().valid  # the simulator accepts the new key
    forget_clients()


def test_a_cluster_that_cannot_host_its_pollers_refuses_to_start(tmp_path):
    import os

    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "Q_WORKERS": "2",
        "ZHIMA_POLLER_SLOTS": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "leases.E001" in out.stderr


def test_any_error_of_one_account_is_that_accounts_result(broken, account, sim, monkeypatch):
    """Not only upstream errors: a bug or a database hiccup on one account (injected here)
    is logged and reported, and the other accounts are still checked."""
    from accounts import alerts

    real = alerts.check_upstream

    def flaky(acc, now=None):
        if acc.pk == account.pk:
            raise RuntimeError("injected")
        return real(acc, now)

    monkeypatch.setattr(alerts, "check_upstream", flaky)
    out = tasks.check_alerts()
    assert out["Sandbox"] == "error: RuntimeError: injected"
    assert "key_unreadable" in out["Broken"]


def test_a_bug_in_one_poll_costs_that_poll_only(personas, items, sim, settings, monkeypatch):
    from accounts.upstream.client import ZhimaClient

    settings.ZHIMA_POLL_INTERVAL = 0.5
    req = services.lease_numbers(personas["member"], items["1002"], key="g" * 32, quantity=2)
    bad, good = Lease.objects.filter(request=req).order_by("pk")
    real = ZhimaClient.get_sms

    def get_sms(self, item_id, phone, **kw):
        if phone == bad.phone:
            raise RuntimeError("injected")
        return real(self, item_id, phone, **kw)

    monkeypatch.setattr(ZhimaClient, "get_sms", get_sms)
    Lease.objects.filter(request=req).update(next_poll_at=timezone.now())
    totals = Poller(run_seconds=1.6).run()
    assert totals["error"] >= 3 and totals["polled"] >= 6
    good.refresh_from_db()
    assert good.polls >= 3 and good.state == LeaseState.WAITING
    not_sent = ApiCall.objects.filter(lease_id=bad.pk, endpoint="get_sms")
    assert not_sent.exists() and all(
        m == "not sent: RuntimeError" for m in not_sent.values_list("msg", flat=True)
    )
