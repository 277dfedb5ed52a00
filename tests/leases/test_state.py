"""The lease state model: several SMS against the live simulator (the upstream repeats the
latest SMS), release-after-code by item type, the transition helper, and the migration of the
old encoded reasons."""

import importlib
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from accounts.audit import CallContext
from leases import services
from leases.models import (
    EndReason,
    EventKind,
    ItemType,
    Lease,
    LeaseEvent,
    LeaseState,
    Message,
)
from leases.poller import Poller


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.3
    settings.ZHIMA_READ_TIMEOUT = 0.5
    return settings


def lease(personas, item, key):
    req = services.lease_numbers(personas["member"], item, key=key)
    return Lease.objects.get(request=req)


def codes_of(one):
    return list(Message.objects.filter(lease=one, direction="in").values_list("code", flat=True))


@pytest.mark.parametrize("item_id", ["1006", "1005", "1003", "1004"])
def test_after_keep_waiting_the_repeated_sms_is_not_new(personas, items, sim, fast, item_id):
    """Receive A, keep waiting; the upstream keeps answering A — the lease stays
    waiting; B arrives — it is stored once and its code shown."""
    one = lease(personas, items[item_id], "m" + item_id)
    sim.deliver(one.phone, "【美团】验证码 481209，5分钟内有效")
    Poller(run_seconds=0.8).run()
    one.refresh_from_db()
    assert (one.state, one.code) == (LeaseState.RECEIVED, "481209")

    services.keep_waiting(personas["member"], one)
    Poller(run_seconds=1.2).run()  # several polls, each answering A again
    one.refresh_from_db()
    assert one.state == LeaseState.WAITING
    assert one.polls >= 3 and codes_of(one) == ["481209"]

    sim.deliver(one.phone, "【美团】验证码 928137，5分钟内有效")
    Poller(run_seconds=1.2).run()
    one.refresh_from_db()
    assert (one.state, one.code) == (LeaseState.RECEIVED, "928137")
    assert codes_of(one) == ["481209", "928137"]
    kinds = list(LeaseEvent.objects.filter(lease=one).values_list("kind", "detail"))
    assert kinds == [
        ("leased", item_id),
        ("received", "481209"),
        ("waiting", ""),
        ("received", "928137"),
    ]
    assert sim.leases()  # the number is still held for the user


def test_receive_only_items_cannot_wait_for_another_sms(personas, items, sim, fast):
    for item_id in ("1001", "1002"):
        one = lease(personas, items[item_id], "r" + item_id)
        Lease.objects.filter(pk=one.pk).update(state=LeaseState.RECEIVED)
        one.refresh_from_db()
        with pytest.raises(services.ServiceError, match="single SMS"):
            services.keep_waiting(personas["member"], one)


def test_release_after_code_is_for_receive_only_types(personas, items, sim, fast):
    """One source: ``ItemType.release_after_code`` (types 1, 2), as the admin's help says."""
    assert ItemType.released_after_code() == [1, 2]
    assert "types 1 and 2" in str(
        Lease._meta.apps.get_model("leases", "Item")._meta.get_field("release_after_code").help_text
    )
    items["1002"].release_after_code = False
    items["1002"].save()
    held = {i: lease(personas, items[i], "c" + i) for i in ("1001", "1002", "1003", "1004")}
    for one in held.values():
        sim.deliver(one.phone, "验证码 604218")
    Poller(run_seconds=1.5).run()
    states = {i: Lease.objects.get(pk=x.pk).state for i, x in held.items()}
    assert states == {
        "1001": LeaseState.RELEASED,  # type 1: released when the code arrives
        "1002": LeaseState.RECEIVED,  # type 2, but the item says keep it
        "1003": LeaseState.RECEIVED,  # types 3, 4 can send: the number is kept
        "1004": LeaseState.RECEIVED,
    }


def test_a_transition_bumps_version_ends_and_writes_one_event(personas, items, sim):
    from leases.services.transitions import transition

    one = lease(personas, items["1001"], "t")
    qs = Lease.objects.active().filter(pk=one.pk)
    moved = transition(
        qs, LeaseState.EXPIRED, actor="x", reason=EndReason.GONE, params={"msg": "号码已释放"}
    )
    assert moved == [one.pk]
    assert transition(qs, LeaseState.EXPIRED, actor="x", reason=EndReason.GONE) == []
    one.refresh_from_db()
    assert one.version == 2 and one.ended_at and one.next_poll_at is None
    assert (one.end_state, one.end_reason) == (LeaseState.EXPIRED, EndReason.GONE)
    ev = LeaseEvent.objects.get(lease=one, kind=EventKind.EXPIRED)
    with translation.override("zh-hans"):
        assert one.end_text == "上游已释放：号码已释放" == ev.text
        assert ev.get_kind_display() == "已过期"
    with translation.override("en"):
        assert one.end_text == "released upstream: 号码已释放"


def test_an_interrupted_blacklisting_is_recovered_as_released(personas, items, sim):
    one = lease(personas, items["1001"], "b")
    Lease.objects.filter(pk=one.pk).update(
        state=LeaseState.RELEASING,
        end_state=LeaseState.BLOCKED,
        end_reason=EndReason.BLACKLISTED,
        next_poll_at=one.leased_at,
    )
    counts = services.release_due(CallContext.for_task("test"))
    one.refresh_from_db()
    assert one.state == LeaseState.RELEASED and one.end_reason == EndReason.RECOVERED
    assert counts["released|recovered"] == 1 and sim.leases() == []


def test_queryset_filters(personas, items, sim):
    from django.utils import timezone

    a = lease(personas, items["1001"], "q1")
    b = lease(personas, items["1001"], "q2")
    now = timezone.now()
    Lease.objects.filter(pk=a.pk).update(next_poll_at=now)
    Lease.objects.filter(pk=b.pk).update(state=LeaseState.RELEASING, next_poll_at=now)
    assert list(Lease.objects.due(now)) == [a]
    assert list(Lease.objects.releasing_due(now)) == [b]
    assert set(Lease.objects.held()) == {a, b} and list(Lease.objects.active()) == [a]


# -- the data migration ----------------------------------------------------------------------

MIGRATION = importlib.import_module("leases.migrations.0008_reasons_as_codes")


@pytest.mark.parametrize(
    ("state", "stored", "expected"),
    [
        ("releasing", "released|user|released by alice", ("released", "user", {"user": "alice"})),
        (
            "releasing",
            "released|user|alice 在后台释放",
            ("released", "admin", {"user": "alice"}),
        ),
        (
            "releasing",
            "expired|wait_limit|no SMS within the item's wait limit",
            ("expired", "wait_limit", {}),
        ),
        ("releasing", "failed|status|上游状态 7", ("failed", "status", {"s": "7"})),
        ("releasing", "failed|lost|something new", ("failed", "lost", {"text": "something new"})),
        ("releasing", "blocking", ("blocked", "blacklisted", {})),
        ("releasing", "garbage", ("", "recovered", {})),
        ("released", "code received", ("released", "code", {})),
        (
            "released",
            "已收到验证码 (号码未获取或已释放)",
            ("released", "code", {"note": "号码未获取或已释放"}),
        ),
        ("released", "由 bob 全部释放", ("released", "release_all", {"user": "bob"})),
        ("released", "由 bob 释放", ("released", "user", {"user": "bob"})),
        (
            "expired",
            "released upstream: 号码未获取或已释放",
            ("expired", "gone", {"msg": "号码未获取或已释放"}),
        ),
        ("failed", "the SMS was lost (status 3)", ("failed", "lost", {})),
        ("blocked", "blacklisted by carol", ("blocked", "blacklisted", {"user": "carol"})),
        ("released", "demo", ("released", "other", {"text": "demo"})),
    ],
)
def test_the_migration_parses_every_old_reason(state, stored, expected):
    assert MIGRATION.parse_lease(state, stored) == expected


@pytest.mark.backend
@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_existing_rows(personas):
    executor = MigrationExecutor(connection)
    before = [("leases", "0006_item_retired_at")]
    after = executor.loader.graph.leaf_nodes("leases")
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Item, Lease_, Event, Msg = (
        apps.get_model("leases", n) for n in ("Item", "Lease", "LeaseEvent", "Message")
    )
    from django.utils import timezone

    from accounts.models import DeveloperAccount

    account_id = DeveloperAccount.objects.first().pk
    item = Item.objects.create(account_id=account_id, item_id="9", status="1", type="5")
    odd = Item.objects.create(account_id=account_id, item_id="8", status="x", type="")
    Item.objects.create(account_id=account_id, item_id="7", status="", type="5")
    now = timezone.now()
    rows = {}
    for i, (state, reason) in enumerate(
        [
            ("releasing", "expired|wait_limit|no SMS within the item's wait limit"),
            ("released", "由 bob 释放"),
            ("blocked", "blacklisted by carol"),
        ]
    ):
        rows[state] = Lease_.objects.create(
            account_id=account_id,
            item=item,
            phone=f"1380000000{i}",
            state=state,
            end_reason=reason,
            release_deadline=now,
        )
    Event.objects.create(lease=rows["released"], kind="released", detail="由 bob 释放")
    Event.objects.create(lease=rows["released"], kind="waiting", detail="waiting for another SMS")
    Msg.objects.create(lease=rows["released"], direction="in", text="a", digest="a", status="2")
    Msg.objects.create(
        lease=rows["released"], direction="out", text="b", digest="b", status="发送中"
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    from leases.models import Item as NewItem

    got = {x.state: x for x in Lease.objects.all()}
    assert (got["releasing"].end_state, got["releasing"].end_reason) == ("expired", "wait_limit")
    with translation.override("en"):  # a client request earlier may have left zh-hans active
        assert got["released"].end_text == "released by bob"
    with translation.override("zh-hans"):
        assert got["blocked"].end_text == "由 carol 拉黑"
    assert list(LeaseEvent.objects.values_list("kind", "reason", "params", "detail")) == [
        ("released", "user", {"user": "bob"}, ""),
        ("waiting", "", {}, ""),
    ]
    assert dict(Message.objects.values_list("direction", "status")) == {
        "in": "received",
        "out": "unconfirmed",
    }
    with translation.override("en"):
        assert Message.objects.get(direction="out").status_text == "not confirmed: 发送中"
    new, bad = NewItem.objects.get(item_id="9"), NewItem.objects.get(item_id="8")
    assert (new.type, new.status, new.kind, new.receives_several) == (5, 1, ItemType(5), True)
    assert (bad.type, bad.status, bad.msg, bad.usable) == (None, None, "status x", False)
    assert odd.pk == bad.pk
    no_status = NewItem.objects.get(item_id="7")
    assert (no_status.type, no_status.status, no_status.msg) == (5, None, "")


def test_stored_codes_are_shown_in_the_readers_language(client, personas, items, sim):
    """The same lease reads in English and in Chinese: reasons, event kinds, send status."""
    from django.urls import reverse

    one = lease(personas, items["1003"], "zh")
    services.send_sms(personas["member"], one, "hello")
    services.send_status(personas["member"], one)  # "发送中" (sending): still "sent"
    services.release(personas["member"], [one])
    client.force_login(personas["member"])
    page = client.get(reverse("leases-detail", args=[one.pk])).content.decode()
    assert "released by member" in page and "hello — sent" in re.sub(r"<[^>]+>", "", page)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("leases-detail", args=[one.pk])).content.decode()
    assert "由 member 释放" in page and "已获取号码" in page
    assert "hello — 已发送" in re.sub(r"<[^>]+>", "", page)
    assert "released by" not in page and "not confirmed" not in page
    history = client.get(reverse("leases-history")).content.decode()
    assert "由 member 释放" in history
    csv = b"".join(client.get(reverse("leases-history-csv")).streaming_content).decode()
    # The code, then its parameters (how a cell is written is the CSV writer's business).
    assert ",user," in csv and "member" in csv.split(",user,")[1]
    translation.deactivate()  # the requests left Chinese active in this thread
