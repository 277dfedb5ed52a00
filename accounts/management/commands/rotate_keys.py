"""Re-encrypt every stored pkey under the newest key of ZHIMA_FIELD_KEYS."""

from django.core.management.base import BaseCommand, CommandError

from accounts import crypto
from accounts.models import DeveloperAccount


class Command(BaseCommand):
    help = "Re-encrypt every pkey under the newest ZHIMA_FIELD_KEYS key (list old keys after it)."

    def handle(self, *args, **opts):
        try:
            done = crypto.rotate_rows(
                DeveloperAccount.objects.all(),
                "pkey_encrypted",
                lambda a: f"the pkey of {a.name!r}",
            )
        except crypto.SecretUnreadable as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"Re-encrypted {done} pkey(s) under the newest key.")
