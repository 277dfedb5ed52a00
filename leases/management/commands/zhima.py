"""``python manage.py zhima VERB``: the upstream API from the command line.

Exit codes: 0 success, 2 usage, 3 refusal (by the upstream, or by the console for a stored
account), 4 transport error, 5 unreadable response. Global options go before or after the verb.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.bidi import json_visible, visible
from accounts.upstream import wire
from accounts.upstream.client import ZhimaClient
from accounts.upstream.errors import (
    TransportError,
    UnreadableResponse,
    UpstreamError,
    UpstreamRefusal,
)
from leases.cli import Console, ConsoleRefusal, make_actor

EXIT_USAGE, EXIT_REFUSED, EXIT_TRANSPORT, EXIT_UNREADABLE = 2, 3, 4, 5
POLL_INTERVAL = 5.0


GLOBAL_OPTIONS = (
    (("--base-url",), {"help": "upstream base URL (default: ZHIMA_BASE_URL)"}),
    (("--account",), {"help": "developer account (or ZHIMA_ACCOUNT)"}),
    (("--pkey",), {"help": "developer key (or ZHIMA_PKEY)"}),
    (
        ("--dev-account",),
        {
            "metavar": "NAME",
            "help": "a developer account stored in the console: the verbs go through the "
            "console's services (permission check, lease state, audit)",
        },
    ),
    (
        ("--as",),
        {
            "dest": "as_user",
            "metavar": "USER",
            "help": "with --dev-account: act as this console user (their role and budget); "
            "default: the operator at the command line, audited as cli:<OS user>",
        },
    ),
    (("--json",), {"action": "store_true", "help": "print one JSON object"}),
)


def add_global_options(parser, *, after_verb: bool) -> None:
    """The global options, before the verb or after it (``get 1001 --json``). After the verb
    they default to "not given", so that they never undo the same option given before it."""
    for flags, kwargs in GLOBAL_OPTIONS:
        kwargs = dict(kwargs)
        if after_verb:
            kwargs["default"] = argparse.SUPPRESS
        parser.add_argument(*flags, **kwargs)


class Command(BaseCommand):
    help = "Talk to the Zhima upstream: verify, item, get, sms, send, send-status, release, …"
    requires_system_checks = []

    def add_arguments(self, parser):
        add_global_options(parser, after_verb=False)
        sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

        def verb(name, help):
            p = sub.add_parser(name, help=help)
            add_global_options(p, after_verb=True)
            return p

        verb("verify", "verify the key; shows the quota")
        p = verb("item", "item details")
        p.add_argument("item")
        p = verb("get", "lease numbers (charges the quota)")
        p.add_argument("item")
        p.add_argument("--quantity", type=int, default=1)
        p.add_argument("--phone", default="")
        p.add_argument("--area", default="")
        p.add_argument("--international", action="store_true")
        p.add_argument("--carrier", choices=["1", "2", "3"], default="")
        p = verb("sms", "the number's SMS")
        p.add_argument("item")
        p.add_argument("phone")
        p.add_argument("--wait", type=float, default=0, metavar="SECONDS")
        p = verb("send", "send an SMS from the number")
        p.add_argument("item")
        p.add_argument("phone")
        p.add_argument("text")
        p = verb("send-status", "delivery status of the last sent SMS")
        p.add_argument("item")
        p.add_argument("phone")
        p = verb("release", "release numbers (comma-separated)")
        p.add_argument("phones")
        p.add_argument("--item", default="")
        verb("release-all", "release every number of the account")
        p = verb("block", "blacklist a number for an item (irreversible)")
        p.add_argument("item")
        p.add_argument("phone")
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    # -- entry ---------------------------------------------------------------------------------

    def handle(self, *args, **opts):
        self.as_json = opts["json"]
        if opts["verbosity"] < 2:  # the output is the answer; the services' INFO lines with -v 2
            logging.getLogger().setLevel(logging.WARNING)
        try:
            client = self.make_client(opts)
        except CommandError as exc:
            self.fail(str(exc), EXIT_USAGE)
        try:
            verb = opts["verb"].replace("-", "_")
            result = getattr(self, "do_" + verb)(client, opts)
        except UpstreamRefusal as exc:
            self.fail(f"upstream refused ({exc.endpoint}): {exc.msg}", EXIT_REFUSED)
        except TransportError as exc:
            hint = ""
            if exc.endpoint == "get_numbers" and exc.ambiguous:
                hint = " — numbers may have been leased; not repeated (check, then release)"
            self.fail(f"transport error: {exc}{hint}", EXIT_TRANSPORT)
        except UnreadableResponse as exc:
            self.fail(
                f"unreadable response ({exc.endpoint}): {exc.reason}: {exc.raw!r}", EXIT_UNREADABLE
            )
        except UpstreamError as exc:  # pragma: no cover - every subclass is handled above
            self.fail(str(exc), EXIT_TRANSPORT)
        except ConsoleRefusal as exc:
            self.fail(f"the console refused: {exc}", EXIT_REFUSED)
        finally:
            client.close()
        self.emit(result)

    def make_client(self, opts):
        """A stored account's verbs (``leases.cli.Console``), or a plain client."""
        if opts.get("dev_account"):
            actor = make_actor(opts.get("as_user"))
            return Console(opts["dev_account"], actor, base_url=opts.get("base_url"))
        if opts.get("as_user"):
            raise CommandError("--as needs --dev-account (a stored account)")
        account = opts.get("account") or os.environ.get("ZHIMA_ACCOUNT", "")
        pkey = opts.get("pkey") or os.environ.get("ZHIMA_PKEY", "")
        if not account or not pkey:
            raise CommandError("give --account and --pkey (or ZHIMA_ACCOUNT and ZHIMA_PKEY)")
        return ZhimaClient(
            opts.get("base_url") or settings.ZHIMA_BASE_URL,
            account,
            pkey,
            connect_timeout=settings.ZHIMA_CONNECT_TIMEOUT,
            read_timeout=settings.ZHIMA_READ_TIMEOUT,
            lease_read_timeout=settings.ZHIMA_LEASE_READ_TIMEOUT,
        )

    def fail(self, message: str, code: int):
        self.stderr.write(visible(f"error: {message}"))
        raise SystemExit(code)

    def emit(self, result: dict) -> None:
        """The result, with every bidirectional control in an SMS, an item name or a message
        written out (``[U+202E]``; a ``\\u202e`` escape in JSON, the same data)."""
        if self.as_json:
            self.stdout.write(json_visible(json.dumps(result, ensure_ascii=False)))
            return
        if list(result) == ["phoneNos"]:  # one number a line: PHONE=$(manage.py zhima … get 1001)
            for number in result["phoneNos"]:
                self.stdout.write(number)
            return
        for key, value in result.items():
            if key == "tiers":
                for t in value:
                    upper = t["high"] if t["high"] is not None else "+"
                    self.stdout.write(visible(f"  tier {t['low']}-{upper}: {t['price']}"))
            elif isinstance(value, list):
                self.stdout.write(visible(f"{key}: {', '.join(value)}"))
            else:
                self.stdout.write(visible(f"{key}: {value}"))

    # -- verbs ---------------------------------------------------------------------------------

    def do_verify(self, client, opts) -> dict:
        result = client.verify()
        return {"valid": "Y" if result.valid else "N", "leftQuantity": result.left_quantity}

    def do_item(self, client, opts) -> dict:
        d = client.item_details(opts["item"])
        return {
            "name": d.name,
            "status": d.status,
            "price": d.price,
            "type": d.type,
            "msg": d.msg,
            "tiers": wire.tiers_to_json(d.tiers),
        }

    def do_get(self, client, opts) -> dict:
        if opts["quantity"] < 1:
            self.fail("--quantity must be at least 1", EXIT_USAGE)
        numbers = client.get_numbers(
            opts["item"],
            opts["quantity"],
            phone_no=opts["phone"],
            area_code=opts["area"],
            international=opts["international"],
            carrier=opts["carrier"],
        )
        return {"phoneNos": numbers}

    def do_sms(self, client, opts) -> dict:
        deadline = time.monotonic() + max(opts["wait"], 0)
        while True:
            result = client.get_sms(opts["item"], opts["phone"])
            if result.status != 1 or time.monotonic() + POLL_INTERVAL > deadline:
                break
            if not self.as_json:
                self.stderr.write("waiting for the SMS…")
            time.sleep(POLL_INTERVAL)
        out = {"status": result.status, "sm": result.sm, "msg": result.msg}
        if result.sm:
            from leases.codes import best_code

            out["code"] = best_code(result.sm) or ""
        return out

    def do_send(self, client, opts) -> dict:
        if not opts["text"].strip():
            self.fail("the SMS text must not be empty", EXIT_USAGE)
        return {"msg": client.send_sms(opts["item"], opts["phone"], opts["text"])}

    def do_send_status(self, client, opts) -> dict:
        msg = client.send_status(opts["item"], opts["phone"])
        return {"msg": msg, "delivered": wire.is_ok(msg)}

    def do_release(self, client, opts) -> dict:
        phones = [p.strip() for p in opts["phones"].split(",") if p.strip()]
        if not phones:
            self.fail("give at least one number", EXIT_USAGE)
        return {"msg": client.release(phones, opts["item"])}

    def do_release_all(self, client, opts) -> dict:
        return {"msg": client.release_all()}

    def do_block(self, client, opts) -> dict:
        if not opts["yes"]:
            if not sys.stdin or not sys.stdin.isatty():
                self.fail("blacklisting cannot be undone: confirm with --yes", EXIT_USAGE)
            answer = input(
                f"Blacklist {opts['phone']} for item {opts['item']}? This cannot be undone. [y/N] "
            )
            if answer.strip().lower() not in {"y", "yes"}:
                self.fail("not confirmed; nothing was sent", EXIT_USAGE)
        return {"msg": client.block(opts["item"], opts["phone"])}
