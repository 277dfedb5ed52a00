"""Webhooks: lease events posted, signed, to the URLs a manager registered for an account.

1. The lease services announce a stored message or a lease's end on ``leases.signals``, sent
   once the transaction commits: nothing happens if it rolls back, and the writer (the poller)
   never waits on a receiver.
2. On that signal (``on_message_received``, ``on_lease_ended``), ``_enqueue`` finds the
   account's active endpoints for the event (one query when there are none), stores one
   ``WebhookDelivery`` per endpoint with the exact body, and enqueues one django-q2 task per
   delivery (``leases.webhooks.tasks.deliver_webhook``).
3. ``deliver`` claims a due delivery (claim-then-act: a task run twice posts once), POSTs it
   and logs the attempt. A failure is due again after an exponential backoff; the every-minute
   ``retry_due`` enqueues what is due, so a worker that died mid-post is retried too.

Each POST carries ``X-Zhima-Event-Id`` (the same on every retry, for de-duplication),
``X-Zhima-Timestamp`` (Unix seconds of this attempt) and ``X-Zhima-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under the endpoint's secret>`` — the
scheme Stripe and GitHub use, so receivers can refuse replays by the timestamp.

Webhooks reach public addresses only (``leases.webhooks.guard``); redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import SecretUnreadable
from accounts.models import Tally
from leases.models import Lease, Message
from zhima_site.clientip import in_networks

from .guard import (
    REFUSED,
    refusal_message,
    refused_address,
    refused_by_connection,
    refused_host,
    session,
)
from .models import CODE_RECEIVED, EVENTS, LEASE_ENDED, Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

State = WebhookDelivery.State
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 60  # 1 min, 3 min, 9 min, 27 min, 81 min, 4 h, 6 h: about 12 h in all
BACKOFF_CAP_SECONDS = 6 * 3600
IN_FLIGHT = timedelta(minutes=2)  # longer than a post can take: a claim past it is abandoned
BODY_EXCERPT = 200  # bytes of a failed answer read at most
REPLY_EXCERPT = 60  # characters of it the delivery log keeps (then "…")

__all__ = ["CODE_RECEIVED", "EVENTS", "LEASE_ENDED", "sign"]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 3 ** (attempts - 1), BACKOFF_CAP_SECONDS))


# -- 1–2: events to deliveries ---------------------------------------------------------------


def on_message_received(sender, *, lease_id: int, message_id: int, **kwargs) -> None:
    """``signals.message_received`` (sent after the commit): a ``lease.code_received``."""
    digest = Message.objects.filter(pk=message_id).values_list("digest", flat=True).first()
    _enqueue(CODE_RECEIVED, [lease_id], digest or "")


def on_lease_ended(sender, *, lease_id: int, state: str, **kwargs) -> None:
    """``signals.lease_ended`` (sent after the commit by the one transition helper every end
    of a lease goes through): a ``lease.ended``."""
    _enqueue(LEASE_ENDED, [lease_id])


def _enqueue(event: str, lease_ids: list[int], digest: str = "") -> list[int]:
    from django_q.tasks import async_task

    # Every active webhook, matched to the leases' accounts below: a console has a few, most
    # ends of a lease find none, and this plain read is the cheapest way to learn it.
    hooks = [h for h in Webhook.objects.filter(active=True) if event in h.events]
    if not hooks:
        return []
    created = []
    leases = Lease.objects.select_related("item", "account").filter(pk__in=lease_ids)
    for lease in leases:
        data, subject = _data(event, lease, digest)
        if data is None:
            continue
        event_id = "evt_" + uuid.uuid4().hex
        body = json.dumps(
            {"id": event_id, "type": event, "created": int(time.time()), "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
            cls=DjangoJSONEncoder,  # the automation API's date-times, to the character
        )
        for hook in hooks:
            if hook.account_id != lease.account_id:
                continue
            try:
                with transaction.atomic():
                    d = WebhookDelivery.objects.create(
                        webhook=hook,
                        event_id=event_id,
                        event=event,
                        subject=subject,
                        lease_id=lease.pk,
                        body=body,
                        next_attempt_at=timezone.now(),
                    )
            except IntegrityError:
                continue  # announced before: delivered (or being delivered) once
            created.append(d.pk)
    for pk in created:
        async_task(
            "leases.webhooks.tasks.deliver_webhook", pk, task_name=f"webhook-{pk}", group="webhook"
        )
    return created


def _data(event: str, lease: Lease, digest: str) -> tuple[dict | None, str]:
    info = {
        "id": lease.pk,
        "account": lease.account.name,
        "item": lease.item.item_id,
        "phone": lease.phone,
        "state": lease.state,
        # The automation API's tag, when that model field exists.
        "tag": getattr(lease, "tag", "") or "",
        "leased_at": lease.leased_at,
    }
    if event == LEASE_ENDED:
        if not lease.final:
            return None, ""
        info["ended_at"] = lease.ended_at
        info["end_reason"] = lease.end_reason
        return {"lease": info}, f"lease:{lease.pk}"
    msg = Message.objects.filter(
        lease_id=lease.pk, direction=Message.Direction.RECEIVED, digest=digest
    ).first()
    if msg is None:
        return None, ""
    message = {
        "id": msg.pk,
        "text": msg.text,
        "code": msg.code,
        "candidates": msg.candidates,
        "received_at": msg.created_at,
    }
    return {"lease": info, "message": message}, f"lease:{lease.pk}:message:{msg.pk}"


# -- 3: posting ------------------------------------------------------------------------------


def _timeouts() -> tuple[float, float]:
    return (
        getattr(settings, "ZHIMA_WEBHOOK_CONNECT_TIMEOUT", 3.0),
        getattr(settings, "ZHIMA_WEBHOOK_READ_TIMEOUT", 10.0),
    )


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    """One POST: its status, and a short excerpt of a failure's answer or the transport error."""
    status, error = None, ""
    try:
        with session() as s:
            r = s.post(
                url,
                data=body,
                headers=headers,
                timeout=_timeouts(),
                allow_redirects=False,
                stream=True,
            )
            status = r.status_code
            if not 200 <= status < 300:
                error = _reply_excerpt(r)
            r.close()
    except requests.RequestException as exc:
        refused = refused_by_connection(exc)
        error = f"refused: {refused} {REFUSED}" if refused else type(exc).__name__
    return status, error


def _peer_address(response) -> str:
    """The address the answer came from (the socket's peer), or "" when it cannot be read."""
    for sock in (
        lambda: response.raw._fp.fp.raw._sock,  # http.client's reader: every kind of answer
        lambda: response.raw.connection.sock,  # a kept-alive connection
    ):
        try:
            return str(sock().getpeername()[0])
        except (AttributeError, OSError, TypeError, IndexError):
            continue
    return ""


def _public_peer(address: str) -> bool:
    """Whether ``address`` is public and not reached only because
    ``ZHIMA_WEBHOOK_PRIVATE_NETWORKS`` lets webhooks reach it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return ip.is_global and not in_networks(str(ip), settings.ZHIMA_WEBHOOK_PRIVATE_NETWORKS)


def _reply_excerpt(response) -> str:
    """What the delivery log keeps of a failed answer's body: nothing when it came from an
    address allowed only by ``ZHIMA_WEBHOOK_PRIVATE_NETWORKS`` (or one that cannot be read):
    the managers who register URLs must not read through the console what only its own
    network serves. Otherwise its first ``REPLY_EXCERPT`` characters, blanks folded and every
    control or format character (terminal escapes, bidi overrides) written as an escape."""
    if not _public_peer(_peer_address(response)):
        return ""
    text = next(response.iter_content(BODY_EXCERPT), b"").decode("utf-8", "replace")
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if len(text) <= REPLY_EXCERPT else text[:REPLY_EXCERPT] + "…"


def deliver(delivery_id: int) -> str:
    """Post one due delivery once and log the attempt; returns its state afterwards."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=State.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + IN_FLIGHT, attempts=F("attempts") + 1)
    if not claimed:
        return "not due"
    d = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    hook = d.webhook
    if not hook.active:
        _finish(d, State.FAILED, error="endpoint deactivated", duration_ms=0)
        return State.FAILED
    try:
        secret = hook.get_secret()
    except SecretUnreadable:
        _finish(d, State.FAILED, error="the secret cannot be decrypted")
        return State.FAILED
    body = d.body.encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "ZhimaConsole-Webhook/1",
        "X-Zhima-Event": d.event,
        "X-Zhima-Event-Id": d.event_id,
        "X-Zhima-Timestamp": str(ts),
        "X-Zhima-Signature": sign(secret, ts, body),
    }
    started = time.monotonic()
    status, error = None, ""
    refused = refused_address(hook.url)
    if refused:
        error = f"refused: {refused} {REFUSED} (ZHIMA_WEBHOOK_PRIVATE_NETWORKS)"
    else:
        status, error = _post(hook.url, body, headers)
    duration = int((time.monotonic() - started) * 1000)
    if status is not None and 200 <= status < 300:
        return _finish(d, State.DELIVERED, status=status, duration_ms=duration)
    if d.attempts >= MAX_ATTEMPTS:
        return _finish(d, State.FAILED, status=status, error=error, duration_ms=duration)
    with transaction.atomic():  # the attempt and the next try are seen together, never apart
        WebhookAttempt.objects.create(
            delivery=d, status_code=status, error=error[:300], duration_ms=duration
        )
        Tally.bump({"webhook_attempts|failed": 1})
        WebhookDelivery.objects.filter(pk=d.pk, state=State.PENDING).update(
            next_attempt_at=timezone.now() + backoff(d.attempts)
        )
    log.info(
        "webhook %s to %s failed (%s), attempt %s",
        d.event_id,
        hook.shown_url,
        status or error,
        d.attempts,
        extra={"lease_id": d.lease_id},
    )
    return State.PENDING


def _finish(d, state: str, *, status=None, error: str = "", duration_ms: int = 0) -> str:
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=d, status_code=status, error=error[:300], duration_ms=duration_ms
        )
        # Running totals for /metrics: each attempt, and each delivery by how it ended.
        ok = "ok" if state == State.DELIVERED else "failed"
        Tally.bump({f"webhook_attempts|{ok}": 1, f"webhook_deliveries|{state}": 1})
        WebhookDelivery.objects.filter(pk=d.pk, state=State.PENDING).update(
            state=state,
            next_attempt_at=None,
            delivered_at=now if state == State.DELIVERED else None,
        )
    return state


def retry_due(limit: int = 200) -> list[int]:
    """Enqueue every pending delivery that is due (a retry, or one whose worker died); the
    log forgets finished deliveries after ``ZHIMA_WEBHOOK_LOG_DAYS`` (30)."""
    from django_q.tasks import async_task

    old = timezone.now() - timedelta(days=getattr(settings, "ZHIMA_WEBHOOK_LOG_DAYS", 30))
    WebhookDelivery.objects.filter(created_at__lt=old).exclude(state=State.PENDING).delete()
    ids = list(
        WebhookDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        async_task(
            "leases.webhooks.tasks.deliver_webhook", pk, task_name=f"webhook-{pk}", group="webhook"
        )
    return ids


TEST_EVENT = "webhook.test"


def send_test(hook: Webhook) -> WebhookDelivery:
    """A ``webhook.test`` event to one endpoint, delivered (signed, retried, logged) like any
    other: what a manager sends to check the receiver before a lease does."""
    from django_q.tasks import async_task

    event_id = "evt_" + uuid.uuid4().hex
    data = {"account": hook.account.name, "webhook": hook.pk, "test": True}
    body = json.dumps(
        {"id": event_id, "type": TEST_EVENT, "created": int(time.time()), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    d = WebhookDelivery.objects.create(
        webhook=hook,
        event_id=event_id,
        event=TEST_EVENT,
        subject=f"test:{event_id}",
        body=body,
        next_attempt_at=timezone.now(),
    )
    async_task("leases.webhooks.tasks.deliver_webhook", d.pk, group="webhook")
    return d


def redeliver(delivery: WebhookDelivery) -> None:
    """A failed delivery is due again, with a fresh set of attempts (the page's "send again")."""
    from django_q.tasks import async_task

    changed = WebhookDelivery.objects.filter(
        pk=delivery.pk, state__in=[State.FAILED, State.DELIVERED]
    ).update(state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), delivered_at=None)
    if changed:
        async_task("leases.webhooks.tasks.deliver_webhook", delivery.pk, group="webhook")


def add_webhook(account, url: str, events, secret: str = "", user=None) -> tuple[Webhook, str]:
    """Register an endpoint; returns it and its secret (generated when none was given), to be
    shown once."""
    events = list(dict.fromkeys(events)) or list(EVENTS)
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValidationError(
            _("Unknown event %(e)s; the events are %(all)s.")
            % {"e": ", ".join(unknown), "all": ", ".join(EVENTS)}
        )
    hook = Webhook(account=account, url=url, events=events)
    hook.full_clean(exclude=["secret_encrypted", "created_by"])
    if Webhook.objects.filter(account=account, url=hook.url).exists():
        raise ValidationError(
            _("%(url)s is already registered for this account: every event would arrive twice.")
            % {"url": hook.shown_url}
        )
    refused = refused_host(url)
    if refused:
        raise ValidationError(refusal_message(url, refused))
    secret = secret or new_secret()
    hook.set_secret(secret)
    hook.created_by = user
    hook.save()
    log.info("webhook %s added for %s: %s", hook.pk, account, hook.shown_url)
    return hook, secret
