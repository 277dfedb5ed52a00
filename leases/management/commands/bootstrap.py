"""First-run setup, safe to run every time: schedules, the sandbox account and an admin."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.audit import CallContext
from accounts.models import DeveloperAccount, Membership, Role
from accounts.quota import refresh_quota
from accounts.upstream.errors import UpstreamError
from leases import catalog
from leases.errors import ServiceError
from leases.tasks import ensure_schedules

SANDBOX_ITEMS = ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008"]


class Command(BaseCommand):
    help = "Declare schedules; create the sandbox developer account and an admin user once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-refresh",
            action="store_true",
            help="do not read the sandbox items from the simulator",
        )
        parser.add_argument(
            "--no-sandbox",
            action="store_true",
            help="no sandbox account (a deployment without the simulator)",
        )

    def handle(self, *args, **opts):
        ensure_schedules()
        admin = self._admin()
        if opts["no_sandbox"]:
            return
        sandbox, created = DeveloperAccount.objects.get_or_create(
            name="Sandbox",
            defaults={
                "upstream_account": "demo",
                "sandbox": True,
                "pkey_encrypted": "",
                # Pinned: pointing ZHIMA_BASE_URL at the real upstream later never sends the
                # sandbox's demo key there.
                "base_url": settings.ZHIMA_SANDBOX_URL,
            },
        )
        if created or not sandbox.pkey_encrypted:
            sandbox.set_pkey("demo-pkey")
            sandbox.save()
            self.stdout.write("Created the sandbox developer account (simulator: demo).")
        Membership.objects.get_or_create(
            user=admin, account=sandbox, defaults={"role": Role.MANAGER}
        )
        if not opts["no_refresh"]:
            ctx = CallContext.for_task("bootstrap")
            try:
                for item_id in SANDBOX_ITEMS:
                    catalog.refresh_item(sandbox, item_id, ctx)
                refresh_quota(sandbox, ctx)
                self.stdout.write("Read the sandbox items and quota from the simulator.")
            except (ServiceError, UpstreamError) as exc:
                self.stdout.write(f"Sandbox items not read yet ({exc}); the schedule will.")

    def _admin(self):
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is not None:
            return admin
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        shown = password is None
        password = password or secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(username, "", password)
        if shown:
            self.stdout.write(
                self.style.WARNING(
                    f"Created the admin user {username!r} with password {password!r} "
                    "(shown once: write it down)."
                )
            )
        else:
            self.stdout.write(f"Created the admin user {username!r}.")
        return admin
