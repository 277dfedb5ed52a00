"""An example of a QA engineer's test: a sign-up form with SMS verification, driven through
Playwright with a real-shaped code from the console (pytest-zhima's ``zhima_number``).

    pip install ./kits/pytest-zhima pytest-playwright
    export ZHIMA_API_URL=… ZHIMA_API_TOKEN=… ZHIMA_ITEM=1001
    pytest tests/e2e/example

The app under test is written here for the example: a tiny HTTP server whose "Send code"
asks its SMS provider to send a code to the phone — here the console's simulator
(``POST /_sim/sms``, at ``ZHIMA_SIM_URL``), as the real provider would reach a real phone.
"""

from __future__ import annotations

import html
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from playwright.sync_api import Page, expect

FORM = """<!doctype html><html><head><meta charset="utf-8"><title>Sign up</title></head><body>
<h1>{title}</h1><p id="note">{note}</p>
<form method="post" action="/send"><label>Phone <input id="phone" name="phone" value="{phone}">
</label><button id="send">Send code</button></form>
<form method="post" action="/verify"><input type="hidden" name="phone" value="{phone}">
<label>Code <input id="code" name="code" autocomplete="one-time-code"></label>
<button id="signup">Sign up</button></form></body></html>"""


class SignupApp:
    """The app under test: phone → "Send code" → the code from the SMS → "Sign up"."""

    def __init__(self, sms_url: str):
        self.codes: dict[str, str] = {}
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _page(self, status=200, title="Sign up", note="", phone=""):
                body = FORM.format(
                    title=html.escape(title), note=html.escape(note), phone=html.escape(phone)
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._page()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
                phone = form.get("phone", "").strip()
                if self.path == "/send":
                    code = f"{secrets.randbelow(10**6):06d}"
                    app.codes[phone] = code
                    r = requests.post(
                        sms_url + "/_sim/sms",
                        data={
                            "phoneNo": phone,
                            "text": f"【注册演示】您的验证码是{code}，5分钟内有效。",
                        },
                        timeout=5,
                    )
                    note = "Code sent." if r.ok else f"Could not send: {r.status_code}"
                    return self._page(note=note, phone=phone)
                if app.codes.get(phone) and form.get("code") == app.codes[phone]:
                    return self._page(title=f"Welcome, {phone}", note="Signed up.", phone=phone)
                return self._page(400, note="Wrong code.", phone=phone)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def signup_app():
    app = SignupApp(os.environ["ZHIMA_SIM_URL"].rstrip("/"))
    yield app
    app.server.shutdown()
    app.server.server_close()


def test_sign_up_with_an_sms_code(page: Page, signup_app, zhima_number):
    page.goto(signup_app.url)
    page.fill("#phone", zhima_number.phone)
    page.click("#send")
    expect(page.locator("#note")).to_have_text("Code sent.")

    page.fill("#code", zhima_number.wait_code(timeout=60))
    page.click("#signup")

    expect(page.locator("h1")).to_have_text(f"Welcome, {zhima_number.phone}")
    assert zhima_number.last_message["code"] == signup_app.codes[zhima_number.phone]
