"""pytest-zhima, pip-installed, against a FAKE API server (``fake_api.py``): the fixture's
configuration, idempotency key and tag, the long-poll loop, stale codes, and the release at
teardown of passing and failing tests. The real console is used in ``tests/e2e``."""

from __future__ import annotations

import textwrap

import pytest

from .fake_api import TOKEN, FakeApi
from .pipkit import run_pytest

INNER = """
import os
import threading
import time

import pytest
import requests

from pytest_zhima import CodeTimeout, LeaseEnded

FAKE = os.environ["ZHIMA_API_URL"].removesuffix("/api/v1")


def sms(number, code, delay=0.0):
    def send():
        time.sleep(delay)
        requests.post(FAKE + "/_fake/sms", json={"lease": number.id, "code": code}, timeout=5)
    threading.Thread(target=send).start()


def test_codes_arrive(zhima_number):
    assert zhima_number.phone.startswith("1700000")
    sms(zhima_number, "111111", delay=1.2)  # after the first long-poll began
    assert zhima_number.wait_code(10) == "111111"
    assert zhima_number.wait_code(10) == "111111"  # the first code, again
    sms(zhima_number, "222222", delay=0.3)
    assert zhima_number.wait_next_code(10) == "222222"  # never the stale 111111
    assert zhima_number.last_message["text"] == "Your code is 222222"


def test_no_code_fails_the_test(zhima_number):
    zhima_number.wait_code(timeout=1.5)


def test_a_failing_test_still_releases(zhima_number):
    raise AssertionError("the app under test is broken")


def test_an_ended_lease_is_a_clear_failure(zhima_number):
    requests.post(FAKE + "/_fake/end", json={"lease": zhima_number.id}, timeout=5)
    with pytest.raises(LeaseEnded, match="ended"):
        zhima_number.wait_code(10)


@pytest.mark.zhima(item="1005", area_code="0755")
def test_the_marker_chooses_the_item(zhima_number):
    assert zhima_number.item == "1005"
"""


@pytest.fixture
def fake():
    api = FakeApi()
    yield api
    api.close()


def inner(tmp_path, name="test_inner.py", source=INNER):
    (tmp_path / name).write_text(textwrap.dedent(source))
    return tmp_path


def env(fake, **kw):
    return {
        "ZHIMA_API_URL": fake.url + "/api/v1",
        "ZHIMA_API_TOKEN": TOKEN,
        "ZHIMA_ITEM": "1001",
        "ZHIMA_RUN_ID": "ci-42",
        **kw,
    }


def test_it_leases_tags_waits_and_releases_even_when_tests_fail(kit_site, tmp_path, fake):
    r = run_pytest(kit_site, inner(tmp_path), env(fake))
    out = r.stdout + r.stderr
    assert "2 failed, 3 passed" in out, out
    assert "CodeTimeout: no SMS for 1700000" in out and "within 1.5 s" in out
    assert "the app under test is broken" in out

    posts = [q for q in fake.requests if q["method"] == "POST" and q["path"] == "/api/v1/leases"]
    assert len(posts) == 5 == len(fake.leases)
    keys = [q["headers"]["Idempotency-Key"] for q in posts]
    assert len(set(keys)) == 5
    tags = sorted(lease["tag"] for lease in fake.leases.values())
    assert tags[0] == "ci-42 test_inner.py::test_a_failing_test_still_releases"
    assert all(t.startswith("ci-42 test_inner.py::test_") for t in tags)
    assert {q["body"]["item"] for q in posts} == {"1001", "1005"}
    assert [q["body"].get("area_code") for q in posts if q["body"]["item"] == "1005"] == ["0755"]
    assert all(q["headers"]["Authorization"] == f"Bearer {TOKEN}" for q in fake.requests[:1])

    # Every lease was released at teardown, the failing tests' too (the ended one was over).
    released = {
        int(q["path"].split("/")[4]) for q in fake.requests if q["path"].endswith("/release")
    }
    assert released == set(fake.leases)
    states = sorted(lease["state"] for lease in fake.leases.values())
    assert states == ["expired", "released", "released", "released", "released"]

    # The long-poll: wait ≤ 120 s, looped on 204, and `after` the last message read.
    polls = [q for q in fake.requests if q["path"].endswith("/code")]
    assert all(0 <= float(q["query"]["wait"][0]) <= 120 for q in polls)
    afters = [int(q["query"]["after"][0]) for q in polls]
    assert 0 in afters and any(a > 0 for a in afters), afters


def test_a_lost_answer_is_asked_again_with_the_same_key_and_leases_once(kit_site, tmp_path, fake):
    fake.drop_next_lease_answers = 1
    r = run_pytest(
        kit_site,
        inner(tmp_path, source="def test_one(zhima_number):\n    assert zhima_number.id\n"),
        env(fake),
    )
    assert "1 passed" in r.stdout, r.stdout + r.stderr
    posts = [q for q in fake.requests if q["path"] == "/api/v1/leases"]
    assert len(posts) == 2 and len(fake.leases) == 1
    assert posts[0]["headers"]["Idempotency-Key"] == posts[1]["headers"]["Idempotency-Key"]


def test_a_rerun_of_the_same_test_in_the_same_run_gets_a_new_number(kit_site, tmp_path, fake):
    src = inner(tmp_path, source="def test_one(zhima_number):\n    assert zhima_number.id\n")
    for _ in range(2):  # a retried CI job: the same ZHIMA_RUN_ID, the same test
        assert "1 passed" in run_pytest(kit_site, src, env(fake)).stdout
    keys = [q["headers"]["Idempotency-Key"] for q in fake.requests if q["path"] == "/api/v1/leases"]
    assert len(set(keys)) == 2 and len(fake.leases) == 2
    assert {lease["state"] for lease in fake.leases.values()} == {"released"}


def test_missing_configuration_is_one_clear_error(kit_site, tmp_path, fake):
    src = "def test_one(zhima_number):\n    pass\n"
    r = run_pytest(kit_site, inner(tmp_path, source=src), env(fake, ZHIMA_API_TOKEN=""))
    assert "zhima_number needs ZHIMA_API_URL and ZHIMA_API_TOKEN" in r.stdout
    assert "1 error" in r.stdout and fake.leases == {}
    r = run_pytest(kit_site, inner(tmp_path, source=src), env(fake, ZHIMA_ITEM=""))
    assert "zhima_number needs ZHIMA_ITEM" in r.stdout and fake.leases == {}


def test_a_generated_run_id_and_long_node_ids_fit_the_tag(kit_site, tmp_path, fake):
    long = "test_" + "x" * 150
    src = f"def {long}(zhima_number):\n    assert len(zhima_number.tag) <= 100\n"
    r = run_pytest(kit_site, inner(tmp_path, source=src), env(fake, ZHIMA_RUN_ID=""))
    assert "1 passed" in r.stdout, r.stdout + r.stderr
    (tag,) = [lease["tag"] for lease in fake.leases.values()]
    assert tag.startswith("run-") and tag.endswith("x" * 20) and len(tag) == 100
