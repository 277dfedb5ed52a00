"""Webhooks from the command line, for the operator who runs the server.

    python manage.py webhook add ACCOUNT URL [--secret SECRET] [--events lease.code_received …]
    python manage.py webhook list [ACCOUNT]
    python manage.py webhook remove ID
    python manage.py webhook rotate-keys     # after rotate_keys: the secrets too

A secret given on the command line is not printed back; without one a new secret is
generated and printed once, alone on the last line.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import crypto
from accounts.bidi import visible
from accounts.models import DeveloperAccount
from leases.webhooks import delivery as webhooks
from leases.webhooks.models import EVENTS, Webhook, WebhookDelivery


class Command(BaseCommand):
    help = "Add, list or remove the webhooks of a developer account."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="register a URL for an account's lease events")
        add.add_argument("account", help="the developer account's display name")
        add.add_argument("url", help="http(s) URL that receives the signed POSTs")
        add.add_argument("--secret", default="", help="signing secret (default: generated)")
        add.add_argument("--events", nargs="+", default=list(EVENTS), metavar="EVENT")
        ls = sub.add_parser("list", help="list webhooks (never their secrets)")
        ls.add_argument("account", nargs="?", default="")
        rm = sub.add_parser("remove", help="remove a webhook and its delivery log")
        rm.add_argument("id", type=int)
        sub.add_parser("rotate-keys", help="re-encrypt every secret under the newest key")

    def handle(self, *args, verb: str, **opts):
        return getattr(self, "_" + verb.replace("-", "_"))(**opts) or None

    def _add(self, account: str, url: str, secret: str, events: list[str], **_):
        acc = DeveloperAccount.objects.filter(name=account).first()
        if acc is None:
            raise CommandError(f"no developer account named {account!r}")
        if secret and len(secret) < 16:
            raise CommandError("the secret must be at least 16 characters")
        try:
            hook, secret_used = webhooks.add_webhook(acc, url, events, secret)
        except ValidationError as exc:
            raise CommandError(visible("; ".join(exc.messages))) from None
        self.stdout.write(visible(f"webhook {hook.pk} added for {acc.name}: {hook.shown_url}"))
        self.stdout.write(f"events: {', '.join(hook.events)}")
        if not secret:
            self.stdout.write("signing secret (shown once):")
            self.stdout.write(secret_used)

    def _list(self, account: str = "", **_):
        hooks = Webhook.objects.select_related("account").order_by("account__name", "pk")
        if account:
            hooks = hooks.filter(account__name=account)
        for h in hooks:
            last = WebhookDelivery.objects.filter(webhook=h).first()
            state = f"last: {last.event} {last.state}" if last else "nothing delivered yet"
            active = "active" if h.active else "paused"
            self.stdout.write(
                visible(
                    f"{h.pk}\t{h.account.name}\t{h.shown_url}\t{','.join(h.events)}\t"
                    f"{active}\t{state}"
                )
            )

    def _remove(self, id: int, **_):
        deleted, _n = Webhook.objects.filter(pk=id).delete()
        if not deleted:
            raise CommandError(f"no webhook {id}")
        self.stdout.write(f"webhook {id} removed")

    def _rotate_keys(self, **_):
        try:
            done = crypto.rotate_rows(
                Webhook.objects.all(), "secret_encrypted", lambda h: f"the secret of webhook {h.pk}"
            )
        except crypto.SecretUnreadable as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"Re-encrypted {done} webhook secret(s) under the newest key.")
