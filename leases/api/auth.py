"""Bearer-token authentication for the API (the tokens live in ``accounts.tokens``)."""

from __future__ import annotations

from ninja.security import HttpBearer

from accounts import tokens

from .watch import db


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` → the member, carrying the token (401 otherwise)."""

    def authenticate(self, request, token: str):
        return tokens.authenticate(token)


class AsyncTokenAuth(HttpBearer):
    """The same for async views: the lookup runs on the API's database pool, so a waiting
    request never holds a thread or a connection of its own."""

    is_async = True

    async def authenticate(self, request, token: str):
        return await db(tokens.authenticate, token)
