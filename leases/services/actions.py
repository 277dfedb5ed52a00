"""Actions a member takes on one lease: blacklist, keep waiting, send an SMS, ask its status."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.audit import CallContext
from accounts.models import Role
from accounts.registry import client_for
from accounts.upstream import wire
from accounts.upstream.errors import NotLeased, UpstreamError, UpstreamRefusal

from ..errors import ServiceError, upstream_error
from ..models import (
    ACTIVE_STATES,
    EndReason,
    EventKind,
    Lease,
    LeaseState,
    Message,
    SendRequest,
    SendStatus,
)
from ..timing import in_flight
from .events import event
from .transitions import touch, transition


def blacklist(user: permissions.Actor, lease: Lease) -> None:
    permissions.require(user, lease.account_id, Role.OPERATOR)
    before = lease.state
    # The claim records the intent; a worker dying before the block call leaves a claim that
    # the release sweep frees as "recovered" once ``next_poll_at`` has passed.
    claimed = before in ACTIVE_STATES and transition(
        Lease.objects.filter(pk=lease.pk, state=before),
        LeaseState.RELEASING,
        reason=EndReason.BLACKLISTED,
        params={"user": user.get_username()},
        end_state=LeaseState.BLOCKED,
        next_poll_at=timezone.now() + in_flight(),
        look_first=False,
    )
    if not claimed:
        raise ServiceError(_("This number is no longer held."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    claim = Lease.objects.releasing().filter(pk=lease.pk)
    try:
        client_for(lease.account).block(lease.item.item_id, lease.phone, context=ctx)
    except UpstreamError as exc:
        if isinstance(exc, NotLeased):
            transition(
                claim,
                LeaseState.EXPIRED,
                actor=ctx.actor,
                reason=EndReason.GONE,
                params={"msg": exc.msg},
                look_first=False,
            )
        else:
            transition(
                claim,
                before,
                reason="",
                end_state="",
                next_poll_at=timezone.now(),
                look_first=False,
            )
        raise upstream_error(exc) from None
    transition(
        claim,
        LeaseState.BLOCKED,
        actor=ctx.actor,
        reason=EndReason.BLACKLISTED,
        params={"user": user.get_username()},
        look_first=False,
    )


def keep_waiting(user: permissions.Actor, lease: Lease) -> None:
    """Items that can receive another SMS: go back to waiting for it. The SMS received so
    far stays the latest the upstream repeats; only a newer one ends the wait."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    if not lease.item.receives_several:
        raise ServiceError(_("This item receives a single SMS."))
    now = timezone.now()
    changed = transition(
        Lease.objects.received().filter(pk=lease.pk),
        LeaseState.WAITING,
        actor=user.get_username(),
        event_kind=EventKind.WAITING,
        next_poll_at=now,
        wait_deadline=now + timedelta(seconds=lease.item.wait_limit_seconds),
        look_first=False,
    )
    if not changed:
        raise ServiceError(_("Only a number that has received an SMS can wait for another."))


SENDING, SENT, UNKNOWN = "sending", "sent", "unknown"


def send_sms(user: permissions.Actor, lease: Lease, text: str, *, key: str = "") -> Message:
    """Send an SMS from the number, claimed before it is made.

    The claim is the sent ``Message``, written first; ``message_once`` (lease, direction,
    digest) lets one row per claim exist, and the digest names the claim: the one SMS of a
    one-SMS item (type 3), or the submission ``key`` of the others. A second claim stops before
    the upstream is called; a repeated key returns the first submission's message. A definite
    refusal gives the claim back; an answer lost on the way keeps it (the SMS may have gone).
    """
    permissions.require(user, lease.account_id, Role.OPERATOR)
    item = lease.item
    text = (text or "").strip()
    if not item.can_send:
        raise ServiceError(_("This item cannot send SMS (type %(t)s).") % {"t": item.type})
    if not text:
        raise ServiceError(_("The SMS text must not be empty."))
    if lease.state not in ACTIVE_STATES:
        raise ServiceError(_("This number is no longer held."))
    key = key or uuid.uuid4().hex
    sent = lease.messages.filter(direction=Message.Direction.SENT)
    if not item.sends_several and sent.exclude(key=key).exists():
        raise ServiceError(_("This item can send one SMS only."))
    claim = f"key:{key}" if item.sends_several else "the one SMS"
    digest = hashlib.sha256(f"sent:{claim}".encode()).hexdigest()
    try:
        with transaction.atomic():
            msg = Message.objects.create(
                lease=lease,
                direction=Message.Direction.SENT,
                text=text,
                digest=digest,
                status=SENDING,
                key=key,
            )
    except IntegrityError:
        first = sent.filter(key=key).first()
        if first is not None:  # the same submission again: it was sent (or is being) once
            return first
        raise ServiceError(_("This item can send one SMS only.")) from None
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        client_for(lease.account).send_sms(item.item_id, lease.phone, text, context=ctx)
    except UpstreamError as exc:
        if isinstance(exc, UpstreamRefusal) or not getattr(exc, "ambiguous", True):
            Message.objects.filter(pk=msg.pk, status=SENDING).delete()  # nothing went
        else:
            Message.objects.filter(pk=msg.pk).update(status=UNKNOWN)
        raise upstream_error(exc) from None
    except Exception:  # not the upstream's: whether the SMS went is not known either
        Message.objects.filter(pk=msg.pk).update(status=UNKNOWN)
        raise
    Message.objects.filter(pk=msg.pk).update(status=SENT)
    msg.status = SENT
    Lease.objects.filter(pk=lease.pk).update(version=F("version") + 1)
    event(lease.pk, "sent", ctx.actor, text[:100]).save()
    return msg


class KeyReused(ServiceError):
    """A send key already used for another text (or number)."""


# Longer than any send call can take: a record still in flight past it was left by a process
# that died during the call.
SEND_IN_FLIGHT = timedelta(minutes=5)


def _not_known() -> str:
    return _("Whether the SMS was sent is not known; it is not sent again with this key.")


def send_once(user: permissions.Actor, lease: Lease, text: str, *, key: str) -> SendRequest:
    """A keyed send (the API's): the first call with ``key`` sends through ``send_sms`` (with
    the same key, so ``message_once`` guards the upstream call too) and records its answer:
    sent, or the failure's text, an ambiguous one included. Every later call with the key
    returns that record and sends nothing; while the first is under way the record is
    ``PENDING``. ``KeyReused``: the key was used for another text or number."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        with transaction.atomic():
            req = SendRequest.objects.create(key=key, lease=lease, digest=digest)
    except IntegrityError:
        req = SendRequest.objects.select_related("message").get(key=key)
        if req.digest != digest or req.lease_id != lease.pk:
            raise KeyReused(_("This key was used for a different request.")) from None
        stale = req.created_at < timezone.now() - SEND_IN_FLIGHT
        if req.outcome == SendRequest.Outcome.PENDING and stale:
            SendRequest.objects.filter(pk=req.pk, outcome=req.outcome).update(
                outcome=SendRequest.Outcome.FAILED, msg=_not_known()
            )
            req.refresh_from_db()
        return req
    done = SendRequest.objects.filter(pk=req.pk)
    try:
        msg = send_sms(user, lease, text, key=key)
    except ServiceError as exc:
        done.update(outcome=SendRequest.Outcome.FAILED, msg=str(exc))
    except BaseException:
        if lease.messages.filter(direction=Message.Direction.SENT, key=key).exists():
            done.update(outcome=SendRequest.Outcome.FAILED, msg=_not_known())
        else:
            done.delete()  # refused before any claim (role, lookup): nothing to answer again
        raise
    else:
        done.update(outcome=SendRequest.Outcome.SENT, message=msg)
    return SendRequest.objects.select_related("message").get(pk=req.pk)


def send_status(user: permissions.Actor, lease: Lease) -> str:
    """Ask the upstream whether the last sent SMS was delivered; returns its answer. "Sending"
    leaves the message sent (its answer noted); any other answer but OK leaves it unconfirmed."""
    permissions.require(user, lease.account_id, Role.OPERATOR)
    last = lease.messages.filter(direction=Message.Direction.SENT).last()
    if last is None:
        raise ServiceError(_("Nothing was sent from this number."))
    ctx = CallContext.for_user(user, lease_id=lease.pk, phone=lease.phone)
    try:
        answer = client_for(lease.account).send_status(lease.item.item_id, lease.phone, context=ctx)
        if wire.is_ok(answer):
            status, status_msg = SendStatus.DELIVERED, ""
        else:
            status, status_msg = SendStatus.SENT, answer[:300]
    except UpstreamRefusal as exc:
        answer, status, status_msg = exc.msg, SendStatus.UNCONFIRMED, exc.msg[:300]
    except UpstreamError as exc:
        raise upstream_error(exc) from None
    Message.objects.filter(pk=last.pk).update(status=status, status_msg=status_msg)
    touch(Lease.objects.filter(pk=lease.pk))
    return answer
