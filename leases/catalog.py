"""Item details and account quota, refreshed from the upstream (no lease state here)."""

from __future__ import annotations

from django.utils import timezone

from accounts import alerts
from accounts.clients import CallContext, client_for
from accounts.models import DeveloperAccount
from accounts.upstream import wire
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from .models import Item
from .rules import upstream_error


def refresh_item(account: DeveloperAccount, item_id: str, ctx: CallContext) -> Item:
    try:
        d = client_for(account).item_details(item_id, context=ctx)
    except UpstreamRefusal as exc:
        item, _created = Item.objects.update_or_create(
            account=account,
            item_id=item_id,
            defaults={"status": "3", "msg": exc.msg[:300], "refreshed_at": timezone.now()},
        )
        return item
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    item, _created = Item.objects.update_or_create(
        account=account,
        item_id=item_id,
        defaults={
            "name": d.name[:200] or item_id,
            "status": str(d.status)[:16],
            "msg": d.msg[:300],
            "price_raw": d.price[:300],
            "tiers": wire.tiers_to_json(d.tiers),
            "type": str(d.type or "")[:16],
            "refreshed_at": timezone.now(),
        },
    )
    return item


def refresh_quota(account: DeveloperAccount, ctx: CallContext) -> int | None:
    """Verify the key (which also renews the upstream session) and cache the quota; the
    key-invalid and low-quota alerts follow the answer."""
    try:
        result = client_for(account).verify(context=ctx)
    except UpstreamRefusal as exc:
        alerts.set_condition(account, "key_invalid", True, f"The upstream said: {exc.msg}")
        raise upstream_error(exc) from None
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    DeveloperAccount.objects.filter(pk=account.pk).update(
        quota=result.left_quantity, quota_read_at=timezone.now()
    )
    account.quota, account.quota_read_at = result.left_quantity, timezone.now()
    alerts.set_condition(account, "key_invalid", False, "The key verifies again.")
    alerts.check_quota(account)
    return result.left_quantity
