"""``manage.py zhima``: every verb, its exit codes and its --json output."""

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def run(sim, *args, base=True):
    out, err = StringIO(), StringIO()
    head = ["--base-url", sim.base_url, "--account", "demo", "--pkey", "demo-pkey"] if base else []
    try:
        call_command("zhima", *head, *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def run_json(sim, *args):
    code, out, err = run(sim, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_verify_prints_valid_and_the_quota(sim):
    assert run_json(sim, "verify") == {"valid": "Y", "leftQuantity": 1000}
    code, out, _ = run(sim, "verify")
    assert code == 0 and "leftQuantity: 1000" in out


def test_item_prints_fields_and_tiers(sim):
    data = run_json(sim, "item", "1001")
    assert data["status"] == 1 and data["type"] == 1
    assert data["tiers"][0] == {"price": "0.1", "low": 1, "high": 10000}
    assert data["tiers"][2]["high"] is None
    _, out, _ = run(sim, "item", "1001")
    assert "tier 30001-+: 0.08" in out


def test_a_numbers_whole_life(sim):
    phones = run_json(sim, "get", "1004", "--carrier", "1")["phoneNos"]
    assert len(phones) == 1
    sim.deliver(phones[0], "【京东】验证码 739104，5分钟内有效，客服4006065500")
    sms = run_json(sim, "sms", "1004", phones[0], "--wait", "30")
    assert sms["status"] == 2 and sms["code"] == "739104"
    assert run_json(sim, "send", "1004", phones[0], "hello")["msg"] == "OK"
    # Sending is a state, not a refusal.
    assert run_json(sim, "send-status", "1004", phones[0]) == {"msg": "发送中", "delivered": False}
    assert run_json(sim, "block", "1004", phones[0], "--yes")["msg"] == "OK"
    more = run_json(sim, "get", "1002", "--quantity", "2")["phoneNos"]
    assert run_json(sim, "release", ",".join(more), "--item", "1002")["msg"] == "OK"
    run_json(sim, "get", "1001", "--international")
    assert run_json(sim, "release-all")["msg"] == "OK"
    assert sim.leases() == []


def test_refusals_exit_three_with_the_msg_verbatim(sim):
    code, out, err = run(sim, "get", "1007")
    assert code == 3 and out == ""
    assert err.strip() == "error: upstream refused (get_numbers): 项目已过期"


def test_transport_errors_exit_four(sim):
    sim.config(error_rate=1.0)
    code, _, err = run(sim, "verify")
    assert code == 4 and "HTTP 500" in err


def test_ambiguous_get_numbers_says_it_was_not_repeated(sim):
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="get_numbers")
    code, _, err = run(sim, "get", "1001")
    assert code == 4 and "not repeated" in err
    assert sim.stats()["requests"]["get_numbers"] == 1


def test_unreadable_answers_exit_five(sim):
    sim.config(garbage_rate=1.0, seed=1)
    code, _, err = run(sim, "verify")
    assert code == 5 and "unreadable response" in err


def test_usage_errors_exit_two(sim):
    assert run(sim, "verify", base=False)[0] == 2  # no credentials
    assert run(sim, "get", "1001", "--quantity", "0")[0] == 2
    assert run(sim, "release", " , ")[0] == 2
    code, _, err = run(sim, "block", "1001", "13800000000")
    assert code == 2 and "--yes" in err


def test_credentials_come_from_the_environment(sim, monkeypatch):
    monkeypatch.setenv("ZHIMA_ACCOUNT", "demo")
    monkeypatch.setenv("ZHIMA_PKEY", "demo-pkey")
    code, out, _ = run(sim, "--base-url", sim.base_url, "--json", "verify", base=False)
    assert code == 0 and json.loads(out)["valid"] == "Y"


@pytest.mark.parametrize("fmt", ["kv", "text"])
def test_the_commands_work_in_other_wire_formats(sim, fmt):
    sim.config(wire_format=fmt)
    assert run_json(sim, "verify")["valid"] == "Y"
    phone = run_json(sim, "get", "1001")["phoneNos"][0]
    sim.deliver(phone, "您的验证码是 2468，10分钟内有效")
    assert run_json(sim, "sms", "1001", phone)["code"] == "2468"
    assert run_json(sim, "release", phone)["msg"] == "OK"


def test_exit_codes_from_a_real_process(sim):
    env = {**os.environ, "DJANGO_DEBUG": "true"}
    base = [
        sys.executable,
        "manage.py",
        "zhima",
        "--base-url",
        sim.base_url,
        "--account",
        "demo",
        "--pkey",
        "demo-pkey",
    ]
    ok = subprocess.run(
        [*base, "--json", "verify"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and '"valid": "Y"' in ok.stdout
    usage = subprocess.run(
        [*base, "frobnicate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2
    refused = subprocess.run(
        [*base, "item", "9999"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 3 and "项目编号不存在" in refused.stderr


def test_global_options_go_before_or_after_the_verb(sim):
    creds = ["--base-url", sim.base_url, "--account", "demo", "--pkey", "demo-pkey"]
    for args in (
        ["verify", "--json", *creds],
        [*creds, "verify", "--json"],
        [
            "--json",
            "--base-url",
            sim.base_url,
            "verify",
            "--account",
            "demo",
            "--pkey",
            "demo-pkey",
        ],
    ):
        code, out, err = run(sim, *args, base=False)
        assert code == 0, (args, err)
        assert json.loads(out) == {"valid": "Y", "leftQuantity": 1000}
    code, out, _ = run(sim, "get", "1001", "--json", base=True)
    phone = json.loads(out)["phoneNos"][0]
    code, out, _ = run(sim, "release", phone, "--json", *creds, base=False)
    assert code == 0 and json.loads(out) == {"msg": "OK"}
    code, out, _ = run(sim, "get", "1002", "--quantity", "2")
    assert code == 0 and sorted(out.split()) == sorted(
        p["phoneNo"] for p in sim.leases()
    )  # one a line
    code, out, _ = run(sim, "--json", "verify", base=True)  # given once, not undone after
    assert json.loads(out)["valid"] == "Y"


def readme_cli_examples() -> str:
    """The README's command-line examples, as written (the first ``sh`` block of its section)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The command line") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_readme_examples_run_as_written(sim, make_user):
    """Every example of the README's command line, in one fresh shell (``env -i``), against a
    live simulator: only the port and the path of the virtualenv's Python are substituted."""
    from accounts.models import DeveloperAccount, Membership, Role
    from leases.models import Lease, LeaseState
    from tests.conftest import test_database_url

    sim.config(auto_sms=True, sms_delay_min=0, sms_delay_max=0, sms_lost_rate=0, sms_timeout_rate=0)
    sandbox = DeveloperAccount(name="Sandbox", upstream_account="demo", base_url=sim.base_url)
    sandbox.set_pkey("demo-pkey")
    sandbox.save()
    Membership.objects.create(user=make_user("admin"), account=sandbox, role=Role.MANAGER)
    examples = readme_cli_examples()
    assert "manage.py zhima" in examples and "--dev-account" in examples
    script = examples.replace("http://127.0.0.1:8001/zsmcode/", sim.base_url).replace(
        ".venv/bin/python", sys.executable
    )
    env = {
        "HOME": os.environ["HOME"],
        "PATH": "/usr/bin:/bin",
        # what .env.local holds after command (a), and this run's database and keys
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": "readme-test-key",
        "ZHIMA_BASE_URL": sim.base_url,
        "DATABASE_URL": test_database_url(),
        "ZHIMA_FIELD_KEYS": os.environ["ZHIMA_FIELD_KEYS"],
    }
    env.update({k: v for k, v in os.environ.items() if k in {"REDIS_URL", "CACHE_KEY_PREFIX"}})
    r = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert '{"valid": "Y", "leftQuantity": 1000}' in r.stdout
    assert "code: " in r.stdout  # the SMS arrived within --wait, its code shown
    lease = Lease.objects.get()  # the stored account's lease, through the services
    assert lease.item.item_id == "1004" and lease.state == LeaseState.RELEASED
    assert lease.messages.get().text == "hello" and "admin" in lease.end_text
    assert r.stderr.count("\n") <= 1  # quiet: at most the --wait progress line
