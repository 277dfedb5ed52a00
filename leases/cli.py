"""Glue for ``manage.py zhima --dev-account NAME``: a stored account, an actor, and every verb
that touches a number going through the services like the web's, so the permission gate, the
lease state and the audit log see the command line exactly as they see a member.

The actor is the operator at the command line (a ``SystemActor`` named ``cli:<OS user>``), or
with ``--as NAME`` that console user, with their role and budget. Numbers the console holds no
lease of (leased elsewhere, or lost to an ambiguous answer) have no lease state to change:
after the same permission check they get one direct, audited call.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError
from django.http import Http404

from accounts import permissions
from accounts.audit import CallContext
from accounts.crypto import SecretUnreadable
from accounts.models import DeveloperAccount, Role
from accounts.permissions import SystemActor
from accounts.registry import client_for
from accounts.upstream.client import ZhimaClient
from accounts.upstream.errors import TransportError, UpstreamError, UpstreamRefusal

from . import services
from .errors import AmbiguousLease, ServiceError
from .models import ACTIVE_STATES, Item, Lease, LeaseRequest, Message, SendStatus


class ConsoleRefusal(Exception):
    """The console (not the upstream) refused: no role, no such lease, a service rule."""


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def make_actor(as_name: str | None = None) -> Any:
    """``cli:<OS user>``, or the console user named by ``--as``."""
    if not as_name:
        return SystemActor(f"cli:{os_user()}")
    user = get_user_model().objects.filter(username=as_name, is_active=True).first()
    if user is None:
        raise CommandError(f"no active console user named {as_name!r}")
    return user


def _account(name: str) -> DeveloperAccount:
    try:
        return DeveloperAccount.objects.get(name=name)
    except DeveloperAccount.DoesNotExist:
        raise CommandError(f"no developer account named {name!r}") from None


class _ContextClient:
    """Binds a fixed ``CallContext`` to every call of a client (for the command line)."""

    def __init__(self, client: ZhimaClient, context: CallContext) -> None:
        self._client, self._context = client, context

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name in {"close"} or not callable(method):
            return method

        def call(*args, **kwargs):
            kwargs.setdefault("context", self._context)
            return method(*args, **kwargs)

        return call


class Console:
    """The verbs of ``manage.py zhima`` on a stored account, as ``actor``."""

    def __init__(self, name: str, actor: Any, base_url: str | None = None) -> None:
        self.account = _account(name)
        self.actor = actor
        if base_url:
            self.account.base_url = base_url
        try:
            client = client_for(self.account)
        except SecretUnreadable:
            raise CommandError(
                f"the stored pkey of {name!r} cannot be decrypted with the configured field keys "
                "(ZHIMA_FIELD_KEYS / ZHIMA_FIELD_KEYS_FILE); enter it again in the admin"
            ) from None
        self.client = _ContextClient(client, CallContext.for_user(actor))

    def close(self) -> None:
        """Stored accounts share a pooled client per process; nothing to close here."""

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The services' errors as the command line's: the upstream error behind a service
        error when there is one (the services raise ``from None``, which keeps it as the
        context), else a refusal by the console."""
        who, where = self.actor.get_username(), self.account.name
        try:
            yield
        except AmbiguousLease as exc:
            raise TransportError("get_numbers", str(exc), ambiguous=True) from None
        except ServiceError as exc:
            if isinstance(exc.__context__, UpstreamError):
                raise exc.__context__ from None
            raise ConsoleRefusal(str(exc)) from None
        except Http404:
            raise ConsoleRefusal(f"{who} is not a member of {where}") from None
        except PermissionDenied:
            raise ConsoleRefusal(f"the role of {who} on {where} does not allow this") from None

    def require(self, role: str = Role.OPERATOR) -> None:
        with self.errors():
            permissions.require(self.actor, self.account.pk, role)

    def lease(self, item_id: str, phone: str) -> Lease | None:
        return (
            Lease.objects.filter(
                account=self.account, item__item_id=item_id, phone=phone, state__in=ACTIVE_STATES
            )
            .select_related("item", "account")
            .first()
        )

    # -- the verbs that read ---------------------------------------------------------------

    def verify(self):
        self.require(Role.VIEWER)
        return self.client.verify()

    def item_details(self, item_id: str):
        self.require(Role.VIEWER)
        return self.client.item_details(item_id)

    def get_sms(self, item_id: str, phone: str):
        self.require(Role.VIEWER)
        return self.client.get_sms(item_id, phone)

    # -- the verbs that change a number --------------------------------------------------------

    def get_numbers(
        self,
        item_id: str,
        quantity: int,
        *,
        phone_no: str = "",
        area_code: str = "",
        international: bool = False,
        carrier: str = "",
    ) -> list[str]:
        """Lease through the services, so the poller watches the numbers like any other."""
        self.require()
        item = Item.objects.filter(account=self.account, item_id=item_id).first()
        with self.errors():
            if item is None:
                from .catalog import refresh_item

                item = refresh_item(self.account, item_id, CallContext.for_user(self.actor))
            req = services.lease_numbers(
                self.actor,
                item,
                key=uuid.uuid4().hex,
                quantity=quantity,
                carrier=carrier,
                area_code=area_code,
                international=international,
                phone=phone_no,
            )
        if req.outcome != LeaseRequest.Outcome.DONE:
            raise ConsoleRefusal(req.msg)
        return list(Lease.objects.filter(request=req).values_list("phone", flat=True))

    def release(self, phones: list[str], item_id: str = "") -> str:
        """Release the leases the console holds through the services; numbers it holds no
        lease of get one direct (audited) release call."""
        self.require()
        qs = Lease.objects.filter(account=self.account, phone__in=phones, state__in=ACTIVE_STATES)
        if item_id:
            qs = qs.filter(item__item_id=item_id)
        leases = list(qs)
        if leases:
            with self.errors():
                counts = services.release(self.actor, leases)
            if counts.get("retry"):
                raise TransportError(
                    "release",
                    "the release did not go through; the poller retries it",
                    ambiguous=True,
                )
        held = {x.phone for x in leases}
        rest = [p for p in phones if p not in held]
        if rest:
            return self.client.release(rest, item_id)
        return "OK"

    def release_all(self) -> str:
        with self.errors():
            services.release_all(self.actor, self.account)
        return "OK"

    def send_sms(self, item_id: str, phone: str, text: str) -> str:
        lease = self.lease(item_id, phone)
        if lease is None:
            self.require()
            return self.client.send_sms(item_id, phone, text)
        with self.errors():
            services.send_sms(self.actor, lease, text)
        return "OK"

    def send_status(self, item_id: str, phone: str) -> str:
        lease = self.lease(item_id, phone)
        if lease is None:
            self.require()
            return self.client.send_status(item_id, phone)
        with self.errors():
            answer = services.send_status(self.actor, lease)
        last = lease.messages.filter(direction=Message.Direction.SENT).last()
        if last is None or last.status == SendStatus.UNCONFIRMED:  # the answer was an error
            raise UpstreamRefusal("send_status", answer)
        return answer  # OK, or the upstream's "sending": a state, not a refusal

    def block(self, item_id: str, phone: str) -> str:
        lease = self.lease(item_id, phone)
        if lease is None:
            self.require()
            return self.client.block(item_id, phone)
        with self.errors():
            services.blacklist(self.actor, lease)
        return "OK"
