"""Item details and account quota, refreshed from the upstream (no lease state here)."""

from __future__ import annotations

from django.utils import timezone

from accounts.clients import CallContext, client_for
from accounts.models import DeveloperAccount
from accounts.upstream import wire
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from .errors import upstream_error
from .models import Item


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
