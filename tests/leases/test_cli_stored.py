"""``manage.py zhima --dev-account``: a stored account, audit rows, leases the poller watches."""

import json
from io import StringIO

from django.core.management import call_command

from accounts.models import ApiCall, DeveloperAccount, Membership
from leases.models import Lease, LeaseState
from leases.poller import Poller
from leases.tasks import SCHEDULES


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("zhima", "--dev-account", "Sandbox", "--json", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_a_stored_account_leases_through_the_console_and_is_audited(account, sim, settings):
    settings.ZHIMA_POLL_INTERVAL = 0.3
    code, out, err = run("get", "1001")
    assert code == 0, err
    phone = json.loads(out)["phoneNos"][0]
    lease = Lease.objects.get(phone=phone)
    assert lease.user is None and lease.state == LeaseState.WAITING
    sim.deliver(phone, "【微信】您的验证码是 918273，5分钟内有效")
    Poller(run_seconds=1.0).run()
    lease.refresh_from_db()
    assert lease.code == "918273" and lease.state == LeaseState.RELEASED
    calls = ApiCall.objects.filter(endpoint="get_numbers").get()
    assert calls.actor.startswith("cli:")
    code, out, _ = run("verify")
    assert json.loads(out)["valid"] == "Y"
    assert ApiCall.objects.filter(endpoint="verify").count() == sim.stats()["requests"]["verify"]


def test_release_through_a_stored_account_ends_the_lease(account, sim):
    code, out, _ = run("get", "1002", "--quantity", "2")
    phones = json.loads(out)["phoneNos"]
    code, out, err = run("release", ",".join(phones), "--item", "1002")
    assert code == 0, err
    assert set(Lease.objects.values_list("state", flat=True)) == {"released"}
    assert sim.leases() == []


def test_an_unknown_stored_account_is_a_usage_error(db):
    out, err = StringIO(), StringIO()
    try:
        call_command("zhima", "--dev-account", "Nope", "verify", stdout=out, stderr=err)
    except SystemExit as exc:
        assert exc.code == 2
    assert "no developer account named 'Nope'" in err.getvalue()


def test_bootstrap_creates_the_sandbox_and_an_admin_once(db, sim, settings, monkeypatch):
    settings.ZHIMA_SANDBOX_URL = sim.base_url
    settings.ZHIMA_BASE_URL = "http://upstream.invalid/zsmcode/"  # the sandbox never goes there
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert "password" in out.getvalue()
    sandbox = DeveloperAccount.objects.get(name="Sandbox")
    assert sandbox.sandbox and sandbox.quota == 1000 and sandbox.base_url == sim.base_url
    assert sandbox.items.count() == 8
    assert Membership.objects.get(account=sandbox).role == "manager"
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert "password" not in again.getvalue()
    assert DeveloperAccount.objects.count() == 1
    from django_q.models import Schedule

    assert Schedule.objects.filter(name__startswith="zhima-").count() == len(SCHEDULES) == 7


def test_bootstrap_without_a_sandbox_makes_schedules_and_an_admin(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "long-enough-pw-1")
    out = StringIO()
    call_command("bootstrap", "--no-sandbox", stdout=out)
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert DeveloperAccount.objects.count() == 0
    assert "long-enough-pw-1" not in out.getvalue()


def run_as(*args):
    """``run`` with the options after the verb, as the README writes them."""
    out, err = StringIO(), StringIO()
    try:
        call_command("zhima", *args, "--dev-account", "Sandbox", "--json", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_every_verb_on_a_stored_account_goes_through_the_services(account, sim):
    from leases.cli import os_user
    from leases.models import LeaseEvent, Message

    actor = f"cli:{os_user()}"
    code, out, err = run_as("get", "1004")
    assert code == 0, err
    phone = json.loads(out)["phoneNos"][0]
    lease = Lease.objects.get(phone=phone)
    assert run_as("send", "1004", phone, "hello")[0] == 0
    sent = Message.objects.get(lease=lease, direction=Message.Direction.SENT)
    assert sent.text == "hello"
    code, out, err = run_as("send-status", "1004", phone)
    assert code == 0 and json.loads(out) == {"msg": "发送中", "delivered": False}, err
    sent.refresh_from_db()
    # Sending is a state, not a refusal: the message stays sent, the upstream's answer noted.
    assert sent.status == "sent" and sent.status_msg == "发送中"
    assert ApiCall.objects.get(endpoint="send_status").outcome == "ok"
    assert run_as("block", "1004", phone, "--yes")[0] == 0
    lease.refresh_from_db()
    assert lease.state == LeaseState.BLOCKED
    code, out, _ = run_as("get", "1001")
    other = Lease.objects.get(phone=json.loads(out)["phoneNos"][0])
    assert run_as("release-all")[0] == 0
    other.refresh_from_db()
    assert other.state == LeaseState.RELEASED and actor in other.end_text
    kinds = list(LeaseEvent.objects.filter(lease=lease).values_list("kind", "actor"))
    assert ("sent", actor) in kinds and ("blocked", actor) in kinds
    assert set(ApiCall.objects.values_list("actor", flat=True)) == {actor}
    assert sim.leases() == []


def test_as_a_console_user_their_role_decides_and_the_audit_names_them(personas, sim):
    from leases.models import LeaseRequest

    code, _, err = run_as("get", "1001", "--as", "viewer")
    assert code == 3 and "does not allow" in err
    code, _, err = run_as("get", "1001", "--as", "outsider")
    assert code == 3 and "not a member" in err
    assert run_as("get", "1001", "--as", "nobody")[0] == 2
    assert not ApiCall.objects.filter(endpoint="get_numbers").exists()
    code, out, err = run_as("get", "1001", "--as", "member")
    assert code == 0, err
    lease = Lease.objects.get(phone=json.loads(out)["phoneNos"][0])
    assert lease.user == personas["member"] and LeaseRequest.objects.get().user == lease.user
    call = ApiCall.objects.get(endpoint="get_numbers")
    assert call.actor == "member" and call.user_id == personas["member"].pk
    code, _, err = run_as("release-all", "--as", "member")  # managers only
    assert code == 3 and "does not allow" in err
    code, _, err = run_as("release", lease.phone, "--as", "member")
    assert code == 0, err
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED and "member" in lease.end_text


def test_a_number_the_console_does_not_hold_gets_one_gated_audited_call(personas, sim):
    phone = sim.client().get_numbers("1001", 1)[0]  # leased outside the console
    code, _, err = run_as("release", phone, "--as", "viewer")
    assert code == 3 and "does not allow" in err
    assert sim.leases() != []
    code, _, err = run_as("release", phone, "--as", "owner")
    assert code == 0, err
    assert ApiCall.objects.get(endpoint="release").actor == "owner"
    assert sim.leases() == [] and not Lease.objects.exists()


def test_as_needs_a_stored_account(db):
    err = StringIO()
    try:
        call_command("zhima", "--account", "a", "--pkey", "b", "--as", "x", "verify", stderr=err)
    except SystemExit as exc:
        assert exc.code == 2
    assert "--as needs --dev-account" in err.getvalue()


def test_an_undecryptable_stored_key_is_a_clear_usage_error(account, sim):
    """A key encrypted with a field key this process lacks: one line, exit 2, no traceback,
    and nothing sent upstream."""
    DeveloperAccount.objects.filter(pk=account.pk).update(pkey_encrypted="gAAAAA-broken")
    code, out, err = run("verify")
    assert code == 2 and out == ""
    assert "cannot be decrypted" in err and "Traceback" not in err
    assert "verify" not in sim.stats()["requests"]
