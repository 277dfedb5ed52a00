"""pytest-zhima, pip-installed, against a live console (uvicorn, the poller in a qcluster, the
simulator): first and second codes, several numbers in one test, the release of every number
— failing tests' too — with the simulator's ledger as the check, why a lease ended, and the
configuration checked once at session start."""

from __future__ import annotations

import textwrap

import pytest

from .pipkit import run_pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

INNER = """
import os

import pytest
import requests

from pytest_zhima import LeaseEnded

SIM = os.environ["ZHIMA_SIM_URL"]


def sms(number, code):
    r = requests.post(SIM + "/_sim/sms", timeout=5,
                      data={"phoneNo": number.phone, "text": f"Your code is {code}."})
    assert r.status_code == 200, r.text


def test_first_code(zhima_number):
    sms(zhima_number, "111111")
    assert zhima_number.wait_code(timeout=20) == "111111"
    assert zhima_number.wait_code(timeout=20) == "111111"  # the first code, again
    assert zhima_number.last_message["text"] == "Your code is 111111."


@pytest.mark.zhima(item="1005")
def test_second_code_on_a_several_sms_item(zhima_number):
    sms(zhima_number, "111111")
    assert zhima_number.wait_code(timeout=20) == "111111"
    sms(zhima_number, "222222")
    assert zhima_number.wait_next_code(timeout=20) == "222222"  # never the stale 111111
    sms(zhima_number, "333333")
    assert zhima_number.wait_next_code(timeout=20) == "333333"


@pytest.mark.zhima(quantity=2)
def test_two_numbers_of_a_one_per_request_item(zhima_number, zhima_numbers):
    assert zhima_number is zhima_numbers[0] and zhima_number.numbers == zhima_numbers
    assert len({n.phone for n in zhima_numbers}) == 2
    for i, number in enumerate(zhima_numbers):
        sms(number, f"90000{i}")
    assert [n.wait_code(timeout=20) for n in zhima_numbers] == ["900000", "900001"]


@pytest.mark.zhima(item="1005", quantity=3)
def test_three_numbers_in_one_request(zhima_numbers):
    assert len({n.id for n in zhima_numbers}) == 3


@pytest.mark.zhima(quantity=2)
def test_a_failing_test_with_two_numbers(zhima_numbers):
    raise AssertionError("the sign-up page is broken")


def test_a_single_sms_item_says_why_no_second_code_comes(zhima_number):
    sms(zhima_number, "444444")
    zhima_number.wait_code(timeout=20)
    with pytest.raises(LeaseEnded) as ended:
        zhima_number.wait_next_code(timeout=20)
    assert ended.value.end_reason == "code"
    print("LEASE-ENDED:", ended.value)


def test_no_code_fails_the_test(zhima_number):
    zhima_number.wait_code(timeout=1.5)
"""


def write(tmp_path, source, name="test_inner.py"):
    (tmp_path / name).write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def env(console, token, **kw):
    return {
        "ZHIMA_API_URL": console.url,
        "ZHIMA_API_TOKEN": token,
        "ZHIMA_ITEM": "1001",
        "ZHIMA_RUN_ID": "ci-42",
        "ZHIMA_SIM_URL": console.sim.root.rstrip("/"),
        **kw,
    }


def test_codes_several_numbers_and_every_number_released(live_console, kit_site, tmp_path):
    from leases.models import Lease

    console = live_console
    r = run_pytest(kit_site, write(tmp_path, INNER), env(console, console.token()), "-s")
    out = r.stdout + r.stderr
    assert "2 failed, 5 passed" in out, out
    assert "the sign-up page is broken" in out
    assert "CodeTimeout: no SMS for" in out and "within 1.5 s" in out
    # Why the lease ended, in words from its end_reason, and why no second SMS could come.
    assert "ended with no new SMS: released when its code arrived" in out, out
    assert "keep-waiting was refused: This item receives a single SMS." in out, out

    leases = list(Lease.objects.filter(tag__startswith="ci-42 "))
    by_test: dict[str, list[Lease]] = {}
    for lease in leases:
        by_test.setdefault(lease.tag.split("::")[1], []).append(lease)
    assert {k: len(v) for k, v in by_test.items()} == {
        "test_first_code": 1,
        "test_second_code_on_a_several_sms_item": 1,
        "test_two_numbers_of_a_one_per_request_item": 2,
        "test_three_numbers_in_one_request": 3,
        "test_a_failing_test_with_two_numbers": 2,
        "test_a_single_sms_item_says_why_no_second_code_comes": 1,
        "test_no_code_fails_the_test": 1,
    }
    (several,) = by_test["test_second_code_on_a_several_sms_item"]
    assert several.item.item_id == "1005"
    assert [m.code for m in several.messages.order_by("id")] == ["111111", "222222", "333333"]
    # Every number went back upstream, the failing tests' included: the simulator holds none
    # and its ledger has every number this run leased, ended.
    assert console.wait_all_released() == []
    ledger = console.ledger()
    assert sorted(e["phoneNo"] for e in ledger) == sorted(lease.phone for lease in leases)
    assert {e["ended"] for e in ledger} == {"released"}, ledger


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"ZHIMA_API_URL": ""},
            "pytest-zhima: set ZHIMA_API_URL to the console's base URL",
        ),
        ({"ZHIMA_API_TOKEN": ""}, "pytest-zhima: set ZHIMA_API_TOKEN to an API token"),
        (
            {"ZHIMA_API_TOKEN": "zk_not-a-token"},
            "pytest-zhima: ZHIMA_API_TOKEN is refused by the console at",
        ),
        ({"ZHIMA_API_URL": "SIM"}, "is not a Zhima Console (GET "),
        ({"ZHIMA_ITEM": ""}, "pytest-zhima: set ZHIMA_ITEM to the item to lease"),
        ({"ZHIMA_ITEM": "1099"}, "ZHIMA_ITEM=1099 is not an item of developer account Sandbox"),
        ({"ZHIMA_ACCOUNT": "Nope"}, "ZHIMA_ACCOUNT=Nope is not a developer account"),
        ({"TOKEN": "several"}, "set ZHIMA_ACCOUNT to the one to lease from"),
    ],
)
def test_a_configuration_error_is_one_line_at_session_start(
    live_web, kit_site, tmp_path, change, line
):
    from accounts.models import Membership, Role
    from leases.models import Item

    console = live_web
    token = console.token()
    if change.pop("TOKEN", None):  # a member of two developer accounts that both have items
        other = console.personas["other"]
        member = console.personas["member"]
        Membership.objects.create(user=member, account=other, role=Role.OPERATOR)
        Item.objects.create(account=other, item_id="1001", type=1, status=1)
    if change.get("ZHIMA_API_URL") == "SIM":
        change["ZHIMA_API_URL"] = console.sim.root
    src = "def test_one(zhima_number):\n    pass\n\ndef test_two(zhima_number):\n    pass\n"
    r = run_pytest(kit_site, write(tmp_path, src), env(console, token, **change))
    out = r.stdout + r.stderr
    errors = [x for x in out.splitlines() if x.startswith("ERROR: ")]
    assert len(errors) == 1 and line in errors[0], out
    assert r.returncode == 4 and " passed" not in out and "ERROR at setup" not in out
    assert console.sim.leases() == []


def test_a_suite_that_does_not_use_the_kit_needs_no_configuration(kit_site, tmp_path):
    r = run_pytest(kit_site, write(tmp_path, "def test_plain():\n    pass\n"), {})
    assert "1 passed" in r.stdout, r.stdout + r.stderr


def test_a_lost_answer_is_asked_again_with_the_same_key_and_leases_once(
    live_console, kit_site, tmp_path
):
    """The first answer to the lease request is lost (the console is slower than the kit's
    read timeout): the kit asks again with the same key and gets the same number."""
    from leases.models import Lease

    console = live_console
    console.sim.config(latency_ms=1000)
    src = "def test_one(zhima_number):\n    assert zhima_number.id\n"
    conftest = """
    import pytest


    @pytest.fixture(scope="session")
    def zhima_api(zhima_settings):
        api = zhima_settings.api
        real, first = api.session.request, [True]

        def request(method, url, **kw):
            if method == "POST" and url.endswith("/leases") and first and first.pop():
                kw["timeout"] = 0.5  # the console answers later: this answer is lost
            return real(method, url, **kw)

        api.session.request = request
        return api
    """
    write(tmp_path, conftest, "conftest.py")
    r = run_pytest(kit_site, write(tmp_path, src), env(console, console.token()))
    assert "1 passed" in r.stdout, r.stdout + r.stderr
    assert Lease.objects.filter(tag__startswith="ci-42 ").count() == 1
    assert console.sim.stats()["numbers_leased"] == 1
    assert console.wait_all_released() == []


def test_a_rerun_of_the_same_test_in_the_same_run_gets_a_new_number(
    live_console, kit_site, tmp_path
):
    from leases.models import Lease

    console = live_console
    token = console.token()
    src = write(tmp_path, "def test_one(zhima_number):\n    assert zhima_number.id\n")
    for _ in range(2):  # a retried CI job: the same ZHIMA_RUN_ID, the same test
        assert "1 passed" in run_pytest(kit_site, src, env(console, token)).stdout
    assert Lease.objects.filter(tag="ci-42 test_inner.py::test_one").count() == 2
    assert console.wait_all_released() == []


def test_a_generated_run_id_and_long_node_ids_fit_the_tag(live_console, kit_site, tmp_path):
    from leases.models import Lease

    console = live_console
    long = "test_" + "x" * 150
    src = f"def {long}(zhima_number):\n    assert len(zhima_number.tag) <= 100\n"
    r = run_pytest(kit_site, write(tmp_path, src), env(console, console.token(), ZHIMA_RUN_ID=""))
    assert "1 passed" in r.stdout, r.stdout + r.stderr
    (tag,) = Lease.objects.values_list("tag", flat=True)
    assert tag.startswith("run-") and tag.endswith("x" * 20) and len(tag) == 100
