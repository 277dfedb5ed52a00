"""Re-encrypt every stored pkey under the newest key of ZHIMA_FIELD_KEYS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import crypto
from accounts.models import DeveloperAccount


class Command(BaseCommand):
    help = "Re-encrypt every pkey under the newest ZHIMA_FIELD_KEYS key (list old keys after it)."

    def handle(self, *args, **opts):
        done = 0
        with transaction.atomic():
            for account in DeveloperAccount.objects.select_for_update():
                try:
                    token = crypto.rotate(account.pkey_encrypted)
                except crypto.SecretUnreadable:
                    raise CommandError(
                        f"the pkey of {account.name!r} cannot be decrypted with any configured "
                        "key; nothing was changed"
                    ) from None
                DeveloperAccount.objects.filter(pk=account.pk).update(pkey_encrypted=token)
                done += 1
        self.stdout.write(f"Re-encrypted {done} pkey(s) under the newest key.")
