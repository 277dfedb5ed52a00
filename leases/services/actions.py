"""Actions a member takes on one lease: blacklist, keep waiting, send an SMS, ask its status."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.clients import CallContext, client_for
from accounts.models import Role
from accounts.upstream.client import UpstreamError, UpstreamRefusal

from ..errors import ServiceError, upstream_error
from ..models import ACTIVE_STATES, Lease, LeaseState, Message
from ..rules import NOT_LEASED, in_flight
from ..webhooks import LEASE_ENDED, emit
from .events import event


def blacklist(user, lease: Lease) -> None:
    permissions.require(user, lease.account_id, Role.OPERATOR)
    before = lease.state
    claimed = before in ACTIVE_STATES and Lease.objects.filter(pk=lease.pk, state=before).update(
        state=LeaseState.RELEASING,
        end_reason="blocking",
        next_poll_at=timezone.now() + in_flight(),
        version=F("version") + 1,
    )
    if not claimed:
        raise ServiceError(_("This number is no longer held."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        client_for(lease.account).block(lease.item.item_id, lease.phone, context=ctx)
    except UpstreamError as exc:
        if isinstance(exc, UpstreamRefusal) and NOT_LEASED.search(exc.msg):
            _finish(
                lease.pk,
                LeaseState.EXPIRED,
                ctx.actor,
                _("released upstream: %(msg)s") % {"msg": exc.msg},
            )
        else:
            Lease.objects.filter(pk=lease.pk, state=LeaseState.RELEASING).update(
                state=before, end_reason="", next_poll_at=timezone.now(), version=F("version") + 1
            )
        raise upstream_error(exc) from None
    _finish(
        lease.pk,
        LeaseState.BLOCKED,
        ctx.actor,
        _("blacklisted by %(user)s") % {"user": user.get_username()},
    )


def _finish(lease_id: int, state: str, actor: str, reason: str) -> None:
    Lease.objects.filter(pk=lease_id, state=LeaseState.RELEASING).update(
        state=state,
        end_reason=reason[:200],
        ended_at=timezone.now(),
        next_poll_at=None,
        version=F("version") + 1,
    )
    event(lease_id, state, actor, reason).save()
    emit(LEASE_ENDED, lease_id)


def keep_waiting(user, lease: Lease) -> None:
    """Several-SMS items: go back to waiting for the next SMS."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    if not lease.item.several_sms:
        raise ServiceError(_("This item receives a single SMS."))
    now = timezone.now()
    changed = Lease.objects.filter(pk=lease.pk, state=LeaseState.RECEIVED).update(
        state=LeaseState.WAITING,
        next_poll_at=now,
        version=F("version") + 1,
        wait_deadline=now + timedelta(seconds=lease.item.wait_limit_seconds),
    )
    if not changed:
        raise ServiceError(_("Only a number that has received an SMS can wait for another."))
    event(lease.pk, "waiting", user.get_username(), _("waiting for another SMS")).save()


def send_sms(user, lease: Lease, text: str) -> Message:
    permissions.require(user, lease.account_id, Role.OPERATOR)
    item = lease.item
    text = (text or "").strip()
    if not item.can_send:
        raise ServiceError(_("This item cannot send SMS (type %(t)s).") % {"t": item.type})
    if not text:
        raise ServiceError(_("The SMS text must not be empty."))
    if lease.state not in ACTIVE_STATES:
        raise ServiceError(_("This number is no longer held."))
    sent = lease.messages.filter(direction=Message.Direction.SENT)
    if not item.sends_several and sent.exists():
        raise ServiceError(_("This item can send one SMS only."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        client_for(lease.account).send_sms(item.item_id, lease.phone, text, context=ctx)
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    digest = hashlib.sha256(f"{timezone.now().isoformat()}{text}".encode()).hexdigest()
    msg = Message.objects.create(
        lease=lease, direction=Message.Direction.SENT, text=text, digest=digest, status="sent"
    )
    Lease.objects.filter(pk=lease.pk).update(version=F("version") + 1)
    event(lease.pk, "sent", ctx.actor, text[:100]).save()
    return msg


def send_status(user, lease: Lease) -> str:
    """Ask the upstream whether the last sent SMS was delivered; returns its answer."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    last = lease.messages.filter(direction=Message.Direction.SENT).last()
    if last is None:
        raise ServiceError(_("Nothing was sent from this number."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        answer = client_for(lease.account).send_status(lease.item.item_id, lease.phone, context=ctx)
        status = "delivered"
    except UpstreamRefusal as exc:
        answer, status = exc.msg, exc.msg[:40]
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    Message.objects.filter(pk=last.pk).update(status=status)
    Lease.objects.filter(pk=lease.pk).update(version=F("version") + 1)
    return answer
