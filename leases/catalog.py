"""Item details and account quota, refreshed from the upstream (no lease state here)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import CallContext
from accounts.models import DeveloperAccount
from accounts.registry import client_for
from accounts.upstream import wire
from accounts.upstream.errors import UpstreamError, UpstreamRefusal

from .errors import ServiceError, upstream_error
from .models import Item, ItemStatus


def small_int(value: int | str | None) -> int | None:
    """The upstream's status or type as stored: a number, or None for anything else (an
    unknown number is kept and shown as it is; a non-number is noted in ``msg``)."""
    return value if isinstance(value, int) and 0 <= value <= 32767 else None


def _raw_note(name: str, value: int | str | None) -> str:
    return f"{name} {value}" if value is not None and small_int(value) is None else ""


def refresh_item(account: DeveloperAccount, item_id: str, ctx: CallContext) -> Item:
    """Read an item's details into its row. An item the upstream refuses (one it does not know)
    keeps a row it already had, marked with the refusal, and gets none otherwise."""
    try:
        d = client_for(account).item_details(item_id, context=ctx)
    except UpstreamRefusal as exc:
        changed = Item.objects.filter(account=account, item_id=item_id).update(
            status=ItemStatus.PROBLEM, msg=exc.msg[:300], refreshed_at=timezone.now()
        )
        if not changed:
            raise _refused(item_id, exc) from None
        return Item.objects.get(account=account, item_id=item_id)
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    return store_details(account, item_id, d)


def store_details(account: DeveloperAccount, item_id: str, d: wire.ItemDetails) -> Item:
    """Save the item as the upstream described it (its details answer, read)."""
    item, _created = Item.objects.update_or_create(
        account=account,
        item_id=item_id,
        defaults={
            "name": d.name[:200] or item_id,
            "status": small_int(d.status),
            "msg": (d.msg or _raw_note("status", d.status))[:300],
            "price_raw": d.price[:300],
            "tiers": wire.tiers_to_json(d.tiers),
            "type": small_int(d.type),
            "refreshed_at": timezone.now(),
        },
    )
    return item


def add_item(account: DeveloperAccount, item_id: str, ctx: CallContext) -> tuple[Item, bool]:
    """Add an item the upstream knows; returns it and whether it is new. An item the upstream
    refuses (one that does not exist) is an error that saves nothing; an item already listed
    is refreshed."""
    existed = Item.objects.filter(account=account, item_id=item_id).exists()
    try:
        d = client_for(account).item_details(item_id, context=ctx)
    except UpstreamRefusal as exc:
        raise _refused(item_id, exc) from None
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    return store_details(account, item_id, d), not existed


def _refused(item_id: str, exc: UpstreamRefusal) -> ServiceError:
    return ServiceError(
        _("The upstream refused item %(i)s (%(m)s); nothing was added.")
        % {"i": item_id, "m": exc.msg}
    )


def set_retired(item: Item, retired: bool) -> bool:
    """Retire an item (no longer leasable, kept for the history) or bring it back; returns
    whether it changed (a second click changes nothing)."""
    qs = Item.objects.filter(pk=item.pk, retired_at__isnull=retired)
    changed = qs.update(retired_at=timezone.now() if retired else None)
    item.refresh_from_db(fields=["retired_at"])
    return bool(changed)
