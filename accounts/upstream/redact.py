"""Known secrets and how to hide them in any text (no Django import)."""

from __future__ import annotations

import re
import threading

REDACTED = "********"
_known: set[str] = set()
_lock = threading.Lock()
_PKEY_PARAM = re.compile(r"""(pkey["']?\s*[=:]\s*["']?)([^&\s"',}]+)""", re.I)


def register_secret(value: str) -> None:
    """Remember a secret so that ``redact`` hides it wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    text = _PKEY_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in tuple(_known):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
