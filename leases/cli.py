"""Glue for ``manage.py zhima --dev-account NAME``: a stored account, audited calls, and
leases and releases that go through the services like any other."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandError

from accounts.clients import CallContext, client_for
from accounts.models import DeveloperAccount
from accounts.permissions import SystemActor
from accounts.upstream.client import TransportError, UpstreamRefusal, ZhimaClient

from . import services
from .errors import AmbiguousLease, ServiceError
from .models import Item, Lease, LeaseRequest


def actor() -> SystemActor:
    return SystemActor(f"cli:{getpass.getuser()}")


def _account(name: str) -> DeveloperAccount:
    try:
        return DeveloperAccount.objects.get(name=name)
    except DeveloperAccount.DoesNotExist:
        raise CommandError(f"no developer account named {name!r}") from None


class _ContextClient:
    """Binds a fixed ``CallContext`` to every call of a client (for the command line)."""

    def __init__(self, client: ZhimaClient, context: CallContext):
        self._client, self._context = client, context

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if name in {"close"} or not callable(method):
            return method

        def call(*args, **kwargs):
            kwargs.setdefault("context", self._context)
            return method(*args, **kwargs)

        return call


def cli_client(name: str, base_url: str | None = None):
    account = _account(name)
    if base_url:
        account.base_url = base_url
    return _ContextClient(client_for(account), CallContext(actor=actor().get_username()))


def lease_via_console(name: str, opts: dict) -> list[str]:
    """Lease through the services, so the poller watches the numbers like any other."""
    import uuid

    account = _account(name)
    item = Item.objects.filter(account=account, item_id=opts["item"]).first()
    if item is None:
        from .catalog import refresh_item

        item = refresh_item(account, opts["item"], CallContext(actor=actor().get_username()))
    try:
        req = services.lease_numbers(
            actor(),
            item,
            key=uuid.uuid4().hex,
            quantity=opts["quantity"],
            carrier=opts["carrier"],
            area_code=opts["area"],
            international=opts["international"],
            phone=opts["phone"],
        )
    except AmbiguousLease as exc:
        raise TransportError("get_numbers", str(exc), ambiguous=True) from None
    except ServiceError as exc:
        raise UpstreamRefusal("get_numbers", str(exc)) from None
    if req.outcome != LeaseRequest.Outcome.DONE:
        raise UpstreamRefusal("get_numbers", req.msg)
    return list(Lease.objects.filter(request=req).values_list("phone", flat=True))


def release_via_console(name: str, phones: list[str], item_id: str = "") -> str:
    """Release stored leases through the services; numbers the console does not hold are
    released with a direct (audited) call."""
    account = _account(name)
    leases = Lease.objects.active().filter(account=account, phone__in=phones)
    if item_id:
        leases = leases.filter(item__item_id=item_id)
    leases = list(leases)
    if leases:
        counts = services.release(actor(), leases)
        if counts.get("retry"):
            raise TransportError(
                "release", "the release did not go through; the poller retries it", ambiguous=True
            )
    rest = [p for p in phones if p not in {x.phone for x in leases}]
    if rest:
        return cli_client(name).release(rest, item_id)
    return "OK"
