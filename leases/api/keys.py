"""The API's ``Idempotency-Key``: its header as the schema declares it, its check, and the
per-token key the services store (a key is the client's, scoped to its token)."""

from __future__ import annotations

import hashlib

from django.utils.translation import gettext as _
from ninja import Header

from . import schemas as s
from .errors import ApiError
from .openapi import idempotency_key_doc


def header(what: str):
    return Header(
        ...,
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=s.IDEMPOTENCY_KEY,
        description=idempotency_key_doc(what),
        example="ci-4711-signup",
    )


def required(raw: str | None) -> str:
    if not raw or len(raw) > 200 or not raw.isprintable():
        raise ApiError(
            400,
            "idempotency_key_required",
            _("An Idempotency-Key header (1 to 200 printable characters) is required."),
        )
    return raw


def scoped(request, kind: str, raw: str) -> str:
    """The client's key, per token, as the services' request key (64 hex characters)."""
    token = request.auth.api_token
    return hashlib.sha256(f"api:{kind}:{token.pk}:{raw}".encode()).hexdigest()
