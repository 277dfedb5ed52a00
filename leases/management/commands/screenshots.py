"""The README's screenshots, taken from a running console in real Chromium.

    bash .ci/start                                   # in another terminal
    .venv/bin/python manage.py screenshots --url http://127.0.0.1:8000/

It signs in as a member of the sandbox account (the ``readme`` user, made or reset here with a
fresh random password), leases numbers through the lease form, has the simulator deliver their
SMS, and saves: the overview, a lease with its code, a request's board, and the phone view.
Nothing is edited by hand: run it again after a change to the look and commit the images.
Needs the test extra (Playwright) and Chromium (``/usr/bin/chromium`` or ``--chromium``).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import DeveloperAccount, Membership, Role
from leases.models import Lease

USER = "readme"
CODES = ["736251", "481209", "928137", "604218"]
SHOTS = {
    "overview": "readme-overview.png",
    "lease": "readme-lease.png",
    "board": "readme-board.png",
    "phone": "readme-phone.png",
}


class Command(BaseCommand):
    help = "Take the README's screenshots from a running console (needs Playwright and Chromium)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the console")
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "static" / "img"))
        parser.add_argument("--lang", default="en", choices=["en", "zh-hans"])
        parser.add_argument("--chromium", default="/usr/bin/chromium")
        parser.add_argument("--item", default="1003", help="the sandbox item of the lease")
        parser.add_argument("--board-item", default="1002", help="… and of the board's three")

    def handle(self, *args, **o):
        # Playwright's sync API runs an event loop in this thread; the ORM reads made here
        # (the numbers just leased) are plain synchronous calls of this command alone.
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:
            raise CommandError("Playwright is missing: pip install -e '.[test]'") from e
        account = DeveloperAccount.objects.filter(sandbox=True, active=True).order_by("pk").first()
        if account is None:
            raise CommandError("no active sandbox account: run manage.py bootstrap first")
        sim_root = re.sub(r"zsmcode/?$", "", account.effective_base_url)
        password = secrets.token_urlsafe(16)
        user, _ = get_user_model().objects.get_or_create(username=USER)
        user.set_password(password)
        user.save()
        Membership.objects.get_or_create(
            user=user, account=account, defaults={"role": Role.OPERATOR}
        )
        out = Path(o["out"])
        out.mkdir(parents=True, exist_ok=True)
        suffix = "" if o["lang"] == "en" else f"-{o['lang']}"
        url = o["url"].rstrip("/") + "/"

        def deliver(lease: Lease, code: str) -> None:
            text = f"【{lease.item.name[:2]}】您的验证码是 {code}，5分钟内有效，请勿泄露。"
            r = requests.post(
                urljoin(sim_root, "_sim/sms"),
                data={"phoneNo": lease.phone, "text": text},
                timeout=10,
            )
            r.raise_for_status()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=o["chromium"], args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url + "login/")
            page.fill("#id_username", USER)
            page.fill("#id_password", password)
            page.click("main button[type=submit]")
            page.wait_for_url(url)
            if o["lang"] != "en":
                with page.expect_navigation():  # the selector submits itself
                    page.select_option("#lang-select", o["lang"])

            def lease(item_id: str, quantity: int) -> list[Lease]:
                page.goto(url + "lease/new/")
                page.select_option("select[name=item]", value=str(self._item(account, item_id)))
                page.fill("input[name=quantity]", str(quantity))
                page.click("#lease-submit")
                page.wait_for_url(re.compile(r".*/(leases|requests)/\d+/$"))
                return list(Lease.objects.filter(user=user).order_by("-pk")[:quantity])

            def save(name: str, full: bool = False) -> None:
                path = out / SHOTS[name].replace(".png", f"{suffix}.png")
                page.screenshot(path=str(path), full_page=full, caret="initial")
                self.stdout.write(f"  {path}")

            (one,) = lease(o["item"], 1)
            deliver(one, CODES[0])
            page.locator("#code").wait_for(timeout=20000)
            page.wait_for_timeout(600)
            save("lease")

            board = lease(o["board_item"], 3)
            for held, code in zip(board, CODES[1:], strict=True):
                deliver(held, code)
            page.locator("#board [data-code]").nth(2).wait_for(timeout=20000)
            page.wait_for_timeout(600)
            save("board")

            page.goto(url)
            page.wait_for_timeout(600)
            save("overview", full=True)

            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(url + f"leases/{one.pk}/")
            page.wait_for_timeout(300)
            save("phone")
            browser.close()

    def _item(self, account: DeveloperAccount, item_id: str) -> int:
        item = account.items.filter(item_id=item_id).first()
        if item is None:
            raise CommandError(f"the sandbox account has no item {item_id}")
        return item.pk
