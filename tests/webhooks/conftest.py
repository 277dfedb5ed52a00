"""A real HTTP receiver for webhook tests, verifying signatures the way a client would."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET = "whsec_test-secret-0123456789"


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC over "<timestamp>.<body>" and refuse a stale
    timestamp. Written independently of ``leases.webhooks.delivery.sign``."""
    ts = headers.get("X-Zhima-Timestamp", "")
    sig = headers.get("X-Zhima-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, "sha256=" + expected)


class Receiver:
    def __init__(self, secret: str = SECRET):
        self.secret = secret
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answered in turn; 200 once they run out
        self.seen_ids: set[str] = set()
        self.duplicates = 0
        self.reply = b"receiver says no"  # the body of a failure's answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = verify(receiver.secret, self.headers, body)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                event_id = self.headers.get("X-Zhima-Event-Id", "")
                if status == 200 and ok:
                    if event_id in receiver.seen_ids:
                        receiver.duplicates += 1
                    receiver.seen_ids.add(event_id)
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "json": json.loads(body),
                        "verified": ok,
                        "status": status if ok else 400,
                    }
                )
                self.send_response(status if ok else 400)
                self.end_headers()
                self.wfile.write(receiver.reply if status >= 300 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/zhima"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, type_=None) -> list[dict]:
        return [r["json"] for r in self.requests if type_ in (None, r["json"]["type"])]


@pytest.fixture
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@contextlib.contextmanager
def django_q_sync():
    """django-q2's own sync mode: ``async_task`` runs the task in this process at once, as a
    cluster worker would (tests need no cluster running). Sync mode "spawns" a worker per
    task, so the console's start-the-pollers hook on spawn is disconnected meanwhile."""
    from django_q.conf import Conf
    from django_q.signals import post_spawn

    from leases.tasks import on_worker_start

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Conf, "SYNC", True)
        post_spawn.disconnect(dispatch_uid="zhima-pollers-on-spawn")
        try:
            yield
        finally:
            post_spawn.connect(on_worker_start, dispatch_uid="zhima-pollers-on-spawn")


@pytest.fixture
def sync_tasks():
    with django_q_sync():
        yield


@pytest.fixture
def fast(settings):
    settings.ZHIMA_POLL_INTERVAL = 0.5
    settings.ZHIMA_READ_TIMEOUT = 0.3
    return settings


@pytest.fixture
def hook(account, receiver):
    from leases.webhooks.delivery import add_webhook

    h, _secret = add_webhook(account, receiver.url, [], SECRET)
    return h
