"""``manage.py api_token create USERNAME --name NAME`` prints a new API token alone on the
last line (for scripts: ``TOKEN=$(… | tail -1)``); ``list`` shows them and ``revoke`` revokes
one, named by its name or its prefix. A member's token names are unique (revoked tokens keep
theirs), so a rotation is "create ci-2, then revoke ci"."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import tokens
from accounts.bidi import visible
from accounts.models import ApiToken, DeveloperAccount


class Command(BaseCommand):
    help = "Create, list or revoke a member's API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="create a token and print it (once)")
        create.add_argument("username")
        create.add_argument("--name", required=True)
        create.add_argument("--days", type=int, default=None, help="expire after DAYS days")
        create.add_argument("--read-only", action="store_true")
        create.add_argument(
            "--account", action="append", default=[], help="limit to this account (repeatable)"
        )
        listing = sub.add_parser("list", help="list a member's tokens")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke one of a member's tokens")
        revoke.add_argument("username")
        which = revoke.add_mutually_exclusive_group(required=True)
        which.add_argument("--name", help="the token's name")
        which.add_argument("--prefix", help="the token's prefix, as listed (zk_…)")

    def handle(self, *args, verb, username, **opts):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if verb == "create":
            self._create(user, opts)
        elif verb == "list":
            for t in ApiToken.objects.filter(user=user).prefetch_related("accounts"):
                self.stdout.write("\t".join(_describe(t)))
        else:
            self._revoke(user, opts["name"] or opts["prefix"])

    def _revoke(self, user, which: str):
        token = tokens.one_of(user, which)
        if token is None:
            raise CommandError(
                f"No token {visible(which)!r} of {user.username} "
                "(name it by its name or by a prefix that fits one token; see `list`)."
            )
        label = f"{visible(token.name)!r} ({token.prefix}…)"
        if not tokens.revoke(token):
            raise CommandError(f"Token {label} of {user.username} was already revoked.")
        self.stdout.write(f"Revoked token {label} of {user.username}.")

    def _create(self, user, opts):
        name = opts["name"].strip()
        if not name or len(name) > 80:
            raise CommandError("--name must be 1 to 80 characters.")
        if opts["days"] is not None and opts["days"] < 1:
            raise CommandError("--days must be at least 1.")
        accounts = []
        for account_name in opts["account"]:
            account = DeveloperAccount.objects.filter(name=account_name).first()
            if account is None:
                raise CommandError(f"No developer account {account_name!r}.")
            accounts.append(account)
        expires = timezone.now() + timedelta(days=opts["days"]) if opts["days"] else None
        try:
            token, raw = tokens.issue(
                user, name, expires_at=expires, read_only=opts["read_only"], accounts=accounts
            )
        except tokens.NameTaken:
            raise CommandError(
                f"{user.username} already has a token named {visible(name)!r} (names are "
                "unique, revoked tokens included): choose another name, e.g. "
                f"{visible(name)[:76]}-2."
            ) from None
        if not user.memberships.exists():
            self.stderr.write(f"Note: {user.username} is a member of no developer account yet.")
        self.stdout.write(f"Created API token {visible(token.name)!r} for {user.username}.")
        self.stdout.write(raw)


def _describe(t: ApiToken) -> list[str]:
    """One token's line: name, prefix, state, access, expiry, account limits, last use."""
    state = "revoked" if t.revoked_at else ("active" if t.usable else "expired")
    limits = sorted(visible(a.name) for a in t.accounts.all())
    if limits:
        reach = f"accounts {', '.join(limits)}"
    else:
        reach = "no accounts left (deleted)" if t.limited else "all accounts"
    return [
        visible(t.name),
        f"{t.prefix}…",
        state,
        "read-only" if t.read_only else "read-write",
        f"expires {t.expires_at.isoformat()}" if t.expires_at else "no expiry",
        reach,
        f"last used {t.last_used_at.isoformat() if t.last_used_at else 'never'}",
    ]
