"""The upstream client of each stored developer account: one per account per process (pooled
connections, one cookie jar), rebuilt when its URL or key changes. It is the one place that
builds a ``ZhimaClient`` for the console; its audit hook is ``accounts.audit.DbAudit`` and its
session store ``accounts.session_store.CacheSessionStore``."""

from __future__ import annotations

import threading

from django.conf import settings

from . import alerts
from .audit import DbAudit
from .crypto import SecretUnreadable
from .models import AlertKind, DeveloperAccount
from .session_store import CacheSessionStore
from .upstream.client import ZhimaClient
from .upstream.errors import UpstreamError


class KeyUnreadable(UpstreamError, SecretUnreadable):
    """The account's stored pkey cannot be decrypted with the configured keys, so nothing was
    sent: a failure of that account alone, never ambiguous. An ``UpstreamError`` so that every
    caller (poller, sweep, scheduled tasks, views) already handles it like the others (and
    still a ``SecretUnreadable`` for those that name that)."""

    ambiguous = False

    def __init__(self, account: DeveloperAccount):
        self.account_id = account.pk
        super().__init__(
            f"the stored pkey of developer account {account.name!r} cannot be decrypted with "
            "the configured ZHIMA_FIELD_KEYS; nothing was sent"
        )


_clients: dict[int, tuple[tuple, ZhimaClient]] = {}
_lock = threading.Lock()


def check_key(account: DeveloperAccount) -> bool:
    """Whether the account's pkey decrypts; raises or clears the ``key_unreadable`` alert,
    which names the account (the every-minute ``check_alerts`` and the poller call it)."""
    try:
        account.get_pkey()
    except SecretUnreadable:
        alerts.set_condition(account, AlertKind.KEY_UNREADABLE, True, {"account": account.name})
        return False
    alerts.set_condition(account, AlertKind.KEY_UNREADABLE, False)
    return True


def client_for(account: DeveloperAccount) -> ZhimaClient:
    """The process's client for ``account``; rebuilt when its URL or key changes.

    Raises ``KeyUnreadable`` (an ``UpstreamError``) when the pkey cannot be decrypted: nothing
    is sent. (No database write here: the alert is ``check_key``'s.)
    """
    fingerprint = (account.effective_base_url, account.upstream_account, account.pkey_encrypted)
    with _lock:
        cached = _clients.get(account.pk)
        if cached and cached[0] == fingerprint:
            return cached[1]
        try:
            pkey = account.get_pkey()
        except SecretUnreadable:
            raise KeyUnreadable(account) from None
        client = ZhimaClient(
            account.effective_base_url,
            account.upstream_account,
            pkey,
            connect_timeout=settings.ZHIMA_CONNECT_TIMEOUT,
            read_timeout=settings.ZHIMA_READ_TIMEOUT,
            lease_read_timeout=settings.ZHIMA_LEASE_READ_TIMEOUT,
            audit=DbAudit(account.pk),
            session_store=CacheSessionStore(account.pk),
            pool_size=max(settings.ZHIMA_POLL_CONCURRENCY, 8),
            proxy=settings.ZHIMA_HTTP_PROXY,
        )
        if cached:
            cached[1].close()
        _clients[account.pk] = (fingerprint, client)
        return client


def forget_clients() -> None:
    with _lock:
        for _, client in _clients.values():
            client.close()
        _clients.clear()
