"""Encryption of secrets at rest (the pkey) with MultiFernet.

Keys come from ``ZHIMA_FIELD_KEYS`` (comma-separated, newest first). When none are set, one key
is generated once into ``ZHIMA_FIELD_KEYS_FILE`` (outside the repository, mode 0600) and reused.
The keys are never derived from ``SECRET_KEY``: rotating one must not lose the other.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key. Nothing is sent upstream."""


def _file_keys(path: Path) -> list[str]:
    """The keys in ``path``; a file that does not exist yet is created (0600, in a 0700
    directory) with a new key. One that cannot be created or read is a clear refusal."""
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use its key
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(Fernet.generate_key().decode() + "\n")
        keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise ImproperlyConfigured(
            f"ZHIMA_FIELD_KEYS_FILE {str(path)!r} cannot be created or read ({exc.strerror}); "
            "create it (mode 0600) or set ZHIMA_FIELD_KEYS"
        ) from None
    if not keys:
        raise ImproperlyConfigured(f"ZHIMA_FIELD_KEYS_FILE {str(path)!r} holds no key")
    return keys


@functools.cache
def fernet() -> MultiFernet:
    keys = list(settings.ZHIMA_FIELD_KEYS) or _file_keys(Path(settings.ZHIMA_FIELD_KEYS_FILE))
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "ZHIMA_FIELD_KEYS holds a key that is not a Fernet key (32 url-safe base64 bytes)"
        ) from None


@checks.register
def keys_readable(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """At start-up (every manage.py command, ``check --deploy``), a key file that cannot be
    created or read is one clear line, not a traceback at the first pkey."""
    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="zhima.E001")]
    return []


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored pkey cannot be decrypted with the configured ZHIMA_FIELD_KEYS"
        ) from None


def rotate(token: str) -> str:
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored pkey cannot be decrypted for rotation") from None


def rotate_rows(queryset, field: str, describe: Callable[[Any], str]) -> int:
    """Re-encrypt ``field`` of every row of ``queryset`` under the newest key, in one
    transaction with the rows locked: a row no configured key can read changes nothing and
    raises ``SecretUnreadable`` naming it (``describe(row)``). Returns how many were done."""
    done = 0
    with transaction.atomic():
        for row in queryset.select_for_update():
            try:
                token = rotate(getattr(row, field))
            except SecretUnreadable:
                raise SecretUnreadable(
                    f"{describe(row)} cannot be decrypted with any configured key; "
                    "nothing was changed"
                ) from None
            queryset.model.objects.filter(pk=row.pk).update(**{field: token})
            done += 1
    return done
