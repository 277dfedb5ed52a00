"""Reading a developer account's quota: the one upstream call the accounts app makes itself."""

from __future__ import annotations

from django.utils import timezone

from . import alerts
from .clients import CallContext, client_for
from .models import AlertKind, DeveloperAccount
from .upstream.client import UpstreamRefusal


def refresh_quota(account: DeveloperAccount, ctx: CallContext) -> int | None:
    """Verify the key (which also renews the upstream session) and cache the quota; the
    key-invalid and low-quota alerts follow the answer.

    Raises ``UpstreamError`` (its text is safe to show) when the upstream refuses or cannot be
    reached, and ``crypto.SecretUnreadable`` when the stored key cannot be decrypted.
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
