"""Encryption of secrets at rest (the pkey) with MultiFernet.

Keys come from ``ZHIMA_FIELD_KEYS`` (comma-separated, newest first). When none are set, one key
is generated once into ``ZHIMA_FIELD_KEYS_FILE`` (outside the repository, mode 0600) and reused.
The keys are never derived from ``SECRET_KEY``: rotating one must not lose the other.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key. Nothing is sent upstream."""


def _file_keys(path: Path) -> list[str]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@functools.cache
def fernet() -> MultiFernet:
    keys = list(settings.ZHIMA_FIELD_KEYS) or _file_keys(Path(settings.ZHIMA_FIELD_KEYS_FILE))
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "ZHIMA_FIELD_KEYS holds a key that is not a Fernet key (32 url-safe base64 bytes)"
        ) from None


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
