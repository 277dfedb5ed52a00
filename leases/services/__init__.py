"""Every change of lease state happens in this package, one module per concern:

- ``leasing``: lease numbers (one upstream call per request key, never repeated), settle the
  requests a dead process left pending;
- ``polling``: claim the leases due for a poll, write what the polls answered;
- ``releasing``: queue, release (one lease: ``release_one``), the automatic sweep, release all;
- ``actions``: blacklist, keep waiting, send an SMS, ask its delivery status;
- ``transitions``: the one helper every state change goes through (``transition``: the claim,
  the version bump, the end time, the end reason and the timeline event together).

A transition is conditional — it moves only the leases still in the states it starts from —
and the caller goes on only with the ids that moved: two workers, a redelivered task or two
clicks never act twice on one lease. Upstream calls are made *after* the claim and outside any
database transaction, so no lock is held while waiting on the network.

Callers import from ``leases.services``; the modules are its parts, not separate entry points.
"""

from ..errors import AmbiguousLease, NotHeld, ReleasePending, ServiceError
from .actions import KeyReused, blacklist, keep_waiting, send_once, send_sms, send_status
from .leasing import lease_numbers, settle_orphaned_requests
from .polling import apply_poll_results, claim_due
from .releasing import queue_release, release, release_all, release_due, release_one, sweep

__all__ = [
    "AmbiguousLease",
    "KeyReused",
    "NotHeld",
    "ReleasePending",
    "ServiceError",
    "apply_poll_results",
    "blacklist",
    "claim_due",
    "keep_waiting",
    "lease_numbers",
    "queue_release",
    "release",
    "release_all",
    "release_due",
    "release_one",
    "send_once",
    "send_sms",
    "send_status",
    "settle_orphaned_requests",
    "sweep",
]
