"""``POST /leases/{id}/send``: one upstream send per ``Idempotency-Key`` (per token), and a
replay answers what the first request answered, whatever that was: sent, a refusal, or an
answer lost on the way (the SMS may have gone). Through the test client, and through two
real web processes sharing the database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from leases.models import Lease, Message, SendRequest
from tests.conftest import test_database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.backend


def lease(api, item="1005", key="l1"):
    r = api.post("/leases", {"item": item}, key=key)
    assert r.status_code == 201, r.content
    (one,) = r.json()["leases"]
    return one


def sends(sim) -> int:
    return sim.stats()["requests"].get("send_sms", 0)


def test_a_retry_after_an_ambiguous_send_gets_the_first_answer_and_sends_nothing(
    personas, items, api_for, sim
):
    api = api_for(personas["member"])
    one = lease(api)
    url = f"/leases/{one['id']}/send"
    # The upstream sends the SMS, but its answer comes after the console stopped waiting
    # (ZHIMA_READ_TIMEOUT: 2 s in the tests).
    sim.config(timeout_rate=1.0, timeout_seconds=3, fault_endpoints="send_sms")
    first = api.post(url, {"text": "hello"}, key="s1")
    assert first.status_code == 409 and "did not answer" in first.json()["error"]["message"]
    assert sim.stats()["faults"]["timeout"] == 1
    (msg,) = Message.objects.filter(lease_id=one["id"], direction=Message.Direction.SENT)
    assert msg.status == "unknown", "it may have gone"
    sim.config(timeout_rate=0.0)
    for _ in range(3):
        again = api.post(url, {"text": "hello"}, key="s1")
        assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert sends(sim) == 1
    # The key still refuses another text, and a new key sends.
    assert api.post(url, {"text": "other"}, key="s1").status_code == 422
    assert api.post(url, {"text": "hello"}, key="s2").status_code == 201
    assert sends(sim) == 2


def test_a_retry_after_an_upstream_refusal_gets_the_refusal_and_sends_nothing(
    personas, items, api_for, sim
):
    api = api_for(personas["member"])
    one = lease(api)
    sim.client().release([one["phone"]], "1005")  # released behind the console's back
    url = f"/leases/{one['id']}/send"
    first = api.post(url, {"text": "hello"}, key="s1")
    assert first.status_code == 409 and first.json()["error"]["code"] == "refused"
    again = api.post(url, {"text": "hello"}, key="s1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert sends(sim) == 1


def test_a_sent_replay_is_the_first_answer_and_the_key_is_per_token(personas, items, api_for, sim):
    api = api_for(personas["member"])
    one = lease(api)
    url = f"/leases/{one['id']}/send"
    first = api.post(url, {"text": "hello"}, key="s1")
    assert first.status_code == 201 and first.json()["status"] == "sent"
    Message.objects.filter(pk=first.json()["message_id"]).update(status="delivered")
    again = api.post(url, {"text": "hello"}, key="s1")
    assert (again.status_code, again.json()) == (201, first.json())
    other = api_for(personas["member"], name="other-token")
    assert other.post(url, {"text": "hello"}, key="s1").status_code == 201
    assert sends(sim) == 2


def test_a_send_left_in_flight_by_a_dead_process_is_answered_as_not_known(
    personas, items, api_for, sim
):
    """A web process killed during the upstream call leaves the key's record in flight: after
    a while a replay says whether the SMS went is not known, and sends nothing."""
    api = api_for(personas["member"])
    one = lease(api)
    url = f"/leases/{one['id']}/send"
    assert api.post(url, {"text": "hello"}, key="s1").status_code == 201
    req = SendRequest.objects.get()
    SendRequest.objects.filter(pk=req.pk).update(outcome=SendRequest.Outcome.PENDING)
    busy = api.post(url, {"text": "hello"}, key="s1")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "in_progress"
    assert busy["Retry-After"] == "1"
    SendRequest.objects.filter(pk=req.pk).update(created_at=req.created_at - timedelta(hours=1))
    late = api.post(url, {"text": "hello"}, key="s1")
    assert late.status_code == 409 and late.json()["error"]["code"] == "refused"
    assert "not known" in late.json()["error"]["message"]
    assert sends(sim) == 1


# -- two web processes ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_consoles():
    """Two uvicorn processes on the test database (and the shared cache): two web processes."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": test_database_url(),
        # Sends count against the token's request limit; this test makes 60 in a few seconds.
        "ZHIMA_API_LEASES_PER_MINUTE": "0",
    }
    procs, urls = [], []
    for _ in range(2):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "zhima_site.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        for proc, url in zip(procs, urls, strict=True):
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("a console did not start: " + proc.stderr.read().decode())
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


ROUNDS = 15
PER_PROCESS = 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_web_processes_sending_with_one_key_at_once_send_once(
    personas, items, sim, token, two_consoles
):
    raw = token(personas["member"])
    headers = {"Authorization": f"Bearer {raw}"}
    r = requests.post(
        two_consoles[0] + "/api/v1/leases",
        json={"item": "1005"},
        headers={**headers, "Idempotency-Key": "l1"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    lease_id = r.json()["leases"][0]["id"]
    url = f"/api/v1/leases/{lease_id}/send"
    for round_ in range(ROUNDS):
        key = f"round-{round_}"
        targets = [base for base in two_consoles for _ in range(PER_PROCESS)]
        barrier = threading.Barrier(len(targets))
        answers: list[tuple[int, dict]] = []

        def post(base, key=key, barrier=barrier, answers=answers):
            with requests.Session() as s:
                s.get(base + "/healthz", timeout=10)  # connected before the start
                barrier.wait()
                a = s.post(
                    base + url,
                    json={"text": f"hello {key}"},
                    headers={**headers, "Idempotency-Key": key},
                    timeout=30,
                )
                answers.append((a.status_code, a.json()))

        threads = [threading.Thread(target=post, args=(t,)) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sends(sim) == round_ + 1, f"round {round_}: {answers}"
        sent = [body for status, body in answers if status == 201]
        busy = [body for status, body in answers if status == 409]
        assert sent and len(sent) + len(busy) == len(targets), answers
        assert all(body == sent[0] for body in sent), answers
        assert all(body["error"]["code"] == "in_progress" for body in busy), answers
    assert Lease.objects.get(pk=lease_id).messages.filter(direction="out").count() == ROUNDS
