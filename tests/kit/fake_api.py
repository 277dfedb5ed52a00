"""A FAKE of the console's /api/v1 lease endpoints, for the plugin's unit tests only: it
follows the API's contract — idempotency keys, tags, the long-poll with
``wait``/``after`` answering 200/204/410, release — and records every request. The real API
is exercised end to end in ``tests/e2e``."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "zk_fake-token"


class FakeApi:
    def __init__(self):
        self.requests: list[dict] = []
        self.leases: dict[int, dict] = {}
        self.by_key: dict[str, int] = {}
        self.messages: dict[int, list[dict]] = {}
        self.drop_next_lease_answers = 0  # close the connection without an answer
        self.cond = threading.Condition()
        self.next_id = 100
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=None, headers=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                url = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                record = {
                    "method": method,
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "headers": dict(self.headers),
                    "body": body,
                }
                fake.requests.append(record)
                if url.path.startswith("/_fake/"):
                    return self._send(200, fake.control(url.path, body))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": {"code": "unauthorized", "message": "no"}})
                status, out, headers = fake.route(method, url.path, record)
                if status is None:  # an answer lost on the way
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self._send(status, out, headers)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- the contract ------------------------------------------------------------------------

    def route(self, method, path, req):
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return 404, {"error": {"code": "not_found", "message": path}}, None
        parts = parts[2:]
        if method == "POST" and parts == ["leases"]:
            return self.create(req)
        if len(parts) >= 2 and parts[0] == "leases" and parts[1].isdigit():
            lease = self.leases.get(int(parts[1]))
            if lease is None:
                return 404, {"error": {"code": "not_found", "message": "no lease"}}, None
            if method == "GET" and parts[2:] == ["code"]:
                return self.code(lease, req)
            if method == "POST" and parts[2:] == ["release"]:
                if lease["state"] not in ("waiting", "received"):
                    return 409, {"error": {"code": "not_held", "message": "no longer held"}}, None
                lease["state"] = "released"
                with self.cond:
                    self.cond.notify_all()
                return 200, lease, None
        return 404, {"error": {"code": "not_found", "message": path}}, None

    def create(self, req):
        key = req["headers"].get("Idempotency-Key")
        if not key:
            return 400, {"error": {"code": "idempotency_key_required", "message": "key"}}, None
        if key not in self.by_key:
            self.next_id += 1
            body = req["body"]
            self.leases[self.next_id] = {
                "id": self.next_id,
                "phone": f"1700000{self.next_id:04d}",
                "item": body["item"],
                "account": body.get("account") or "Sandbox",
                "state": "waiting",
                "tag": body.get("tag", ""),
            }
            self.messages[self.next_id] = []
            self.by_key[key] = self.next_id
        if self.drop_next_lease_answers:
            self.drop_next_lease_answers -= 1
            return None, None, None
        return 201, {"leases": [self.leases[self.by_key[key]]]}, None

    def code(self, lease, req):
        wait = float(req["query"].get("wait", ["0"])[0])
        after = int(req["query"].get("after", ["0"])[0])
        if wait > 120:
            return 422, {"error": {"code": "invalid_request", "message": "wait"}}, None
        deadline = time.monotonic() + wait
        with self.cond:
            while True:
                newer = [m for m in self.messages[lease["id"]] if m["message_id"] > after]
                if newer:
                    return 200, newer[0], None
                if lease["state"] not in ("waiting", "received"):
                    return 410, {"error": {"code": "ended", "message": lease["state"]}}, None
                left = deadline - time.monotonic()
                if left <= 0:
                    return 204, None, None
                self.cond.wait(left)

    # -- steering, as the simulator's /_sim endpoints ---------------------------------------

    def control(self, path, body):
        with self.cond:
            lease = self.leases[int(body["lease"])]
            if path == "/_fake/sms":
                self.next_id += 1
                msg = {
                    "code": body["code"],
                    "text": f"Your code is {body['code']}",
                    "message_id": self.next_id,
                    "received_at": datetime.now(UTC).isoformat(),
                }
                self.messages[lease["id"]].append(msg)
                lease["state"] = "received"
            elif path == "/_fake/end":
                lease["state"] = "expired"
            self.cond.notify_all()
        return {"ok": True}
