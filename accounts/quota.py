"""Reading a developer account's quota: the one upstream call the accounts app makes itself."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import alerts
from .audit import CallContext
from .crypto import SecretUnreadable
from .models import AlertKind, DeveloperAccount
from .registry import client_for
from .upstream.errors import UpstreamError, UpstreamRefusal


def refresh_quota(account: DeveloperAccount, ctx: CallContext) -> int | None:
    """Verify the key (which also renews the upstream session) and cache the quota; the
    key-invalid and low-quota alerts follow the answer.

    Raises ``UpstreamError`` (its text is safe to show) when the upstream refuses or cannot be
    reached, or ``registry.KeyUnreadable`` (one of them) when the stored key cannot be
    decrypted.
    """
    try:
        result = client_for(account).verify(context=ctx)
    except UpstreamRefusal as exc:
        alerts.set_condition(account, AlertKind.KEY_INVALID, True, {"msg": exc.msg})
        raise
    now = timezone.now()
    DeveloperAccount.objects.filter(pk=account.pk).update(
        quota=result.left_quantity, quota_read_at=now
    )
    account.quota, account.quota_read_at = result.left_quantity, now
    alerts.set_condition(account, AlertKind.KEY_INVALID, False)
    alerts.check_quota(account)
    return result.left_quantity


REFRESH_EVERY = 30  # seconds: at most one re-read per account after leases, however many


def refresh_soon(account_id: int) -> bool:
    """Re-read the account's quota in a worker once the current transaction commits (after
    a lease request), at most once per ``REFRESH_EVERY`` seconds per account; returns whether
    a re-read was queued. The lease request's thread never waits for it."""
    if not cache.add(f"zhima:quota-soon:{account_id}", 1, REFRESH_EVERY):
        return False
    transaction.on_commit(
        lambda: async_task(
            "accounts.quota.refresh_task", account_id, task_name=f"quota-{account_id}"
        )
    )
    return True


def refresh_task(account_id: int) -> str:
    """The django-q2 task behind ``refresh_soon``: a failure is reported, never retried."""
    account = DeveloperAccount.objects.filter(pk=account_id, active=True).first()
    if account is None:
        return "skipped"
    try:
        return str(refresh_quota(account, CallContext.for_task("quota")))
    except (UpstreamError, SecretUnreadable) as exc:
        return f"error: {exc}"
