"""Alerts by e-mail to an account's managers: raised once when a condition starts, and once
more on recovery — never once per poll.

Conditions: the quota below the account's threshold; the upstream failing (no successful call
and at least one failed one for ``ALERT_UPSTREAM_MINUTES``); the poller behind its cadence
(a waiting lease overdue by more than ``ALERT_POLL_LAG_SECONDS``); a key that can no longer be
verified; a stored key that cannot be decrypted with the configured field keys
(``registry.check_key``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation

from .models import Alert, AlertKind, ApiCall, DeveloperAccount, Role

log = logging.getLogger(__name__)


def recipients(account: DeveloperAccount) -> list[str]:
    managers = account.memberships.filter(role=Role.MANAGER).exclude(user__email="")
    emails = list(managers.values_list("user__email", flat=True))
    return sorted(set(emails) | set(settings.ALERT_EMAILS))


def _mail(account: DeveloperAccount, subject: str, body: str) -> None:
    to = recipients(account)
    if not to:
        log.warning("alert for %s has no recipient: %s", account, subject)
        return
    try:
        send_mail(f"[Zhima Console] {account.name}: {subject}", body, None, to)
    except Exception:  # a mail server outage must not stop the checks; the alert stays recorded
        log.exception("could not send the alert mail for %s", account)


def set_condition(
    account: DeveloperAccount, kind: AlertKind, active: bool, params: dict | None = None
) -> bool:
    """Record the condition (a code and its parameters); mail when it starts or ends.
    Returns whether a mail went out."""
    now = timezone.now()
    with transaction.atomic():
        alert, _created = Alert.objects.get_or_create(account=account, kind=kind)
        if active:
            changed = Alert.objects.filter(pk=alert.pk, active=False).update(
                active=True, params=params or {}, message="", raised_at=now, cleared_at=None
            )
        else:
            changed = Alert.objects.filter(pk=alert.pk, active=True).update(
                active=False, cleared_at=now
            )
    if not changed:
        return False
    # Mails go out in the site's language; the console shows the same facts in the reader's.
    with translation.override(settings.LANGUAGE_CODE):
        title = str(AlertKind(kind).label)
        if active:
            alert.kind, alert.params, alert.message = kind, params or {}, ""
            _mail(account, title, f"{title}.\n\n{alert.text}\n")
        else:
            _mail(account, f"recovered: {title}", f"Recovered: {title} no longer holds.\n")
    return True


def check_quota(account: DeveloperAccount) -> None:
    if account.quota is None:
        return
    set_condition(
        account,
        AlertKind.LOW_QUOTA,
        account.quota_low,
        {"quota": account.quota, "threshold": account.low_quota_threshold},
    )


def check_upstream(account: DeveloperAccount, now=None) -> None:
    now = now or timezone.now()
    since = now - timedelta(minutes=settings.ALERT_UPSTREAM_MINUTES)
    recent = ApiCall.objects.filter(account=account, created_at__gte=since)
    if recent.filter(outcome="ok").exists():
        set_condition(account, AlertKind.UPSTREAM_FAILING, False)
    elif recent.filter(outcome__in=("transport", "unreadable")).exists() and (
        last := recent.exclude(outcome="ok").order_by("-created_at").first()
    ):
        set_condition(
            account,
            AlertKind.UPSTREAM_FAILING,
            True,
            {
                "minutes": f"{settings.ALERT_UPSTREAM_MINUTES:g}",
                "endpoint": last.endpoint,
                "outcome": last.outcome,
                "msg": last.msg,
            },
        )


def check_poller(account: DeveloperAccount, oldest_due, now=None) -> None:
    now = now or timezone.now()
    lag = (now - oldest_due).total_seconds() if oldest_due else 0.0
    set_condition(
        account,
        AlertKind.POLLER_BEHIND,
        lag > settings.ALERT_POLL_LAG_SECONDS,
        {"lag": f"{lag:.0f}"},
    )
