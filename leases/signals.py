"""What happened to a lease, announced once the transaction that wrote it has committed.

Receivers run in the process that wrote (the poller's worker, a web request): the API's
long-polls learn of changes through them (``leases.api.watch``: on SQLite both ring the bell
beside the database; with Redis a new message is published), and webhooks hang their
deliveries on them. A receiver that fails is logged and never undoes or delays the write.

- ``message_received``: ``lease_id``, ``message_id`` — a new SMS was stored for the lease.
- ``lease_ended``: ``lease_id``, ``state`` — the lease reached a final state; sent by the one
  transition helper (``leases.services.transitions``) that every end goes through. What a
  long-poll reads is the ``LeaseEvent`` row each end writes: the signal only says when to look.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

message_received = Signal()
lease_ended = Signal()


def send_on_commit(signal: Signal, **kwargs) -> None:
    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("signal receiver %r failed: %s", receiver, result)

    transaction.on_commit(send)
