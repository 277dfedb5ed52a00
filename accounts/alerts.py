"""Alerts by e-mail to an account's managers: raised once when a condition starts, and once
more on recovery — never once per poll.

Conditions: the quota below the account's threshold; the upstream failing (no successful call
and at least one failed one for ``ALERT_UPSTREAM_MINUTES``); the poller behind its cadence
(a waiting lease overdue by more than ``ALERT_POLL_LAG_SECONDS``); a key that can no longer be
verified; a stored key that cannot be decrypted with the configured field keys
(``clients.check_key``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .models import Alert, ApiCall, DeveloperAccount, Role

log = logging.getLogger(__name__)

TITLES = {
    "low_quota": "quota below its threshold",
    "upstream_failing": "the upstream is failing",
    "poller_behind": "the poller is behind its cadence",
    "key_invalid": "the key can no longer be verified",
    "key_unreadable": "the stored key cannot be decrypted",
}


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


def set_condition(account: DeveloperAccount, kind: str, active: bool, detail: str = "") -> bool:
    """Record the condition; mail when it starts or ends. Returns whether a mail went out."""
    now = timezone.now()
    with transaction.atomic():
        alert, _created = Alert.objects.get_or_create(account=account, kind=kind)
        if active:
            changed = Alert.objects.filter(pk=alert.pk, active=False).update(
                active=True, message=detail[:2000], raised_at=now, cleared_at=None
            )
        else:
            changed = Alert.objects.filter(pk=alert.pk, active=True).update(
                active=False, cleared_at=now
            )
    if not changed:
        return False
    title = TITLES.get(kind, kind)
    if active:
        _mail(account, title, f"{title}.\n\n{detail}\n")
    else:
        _mail(account, f"recovered: {title}", f"Recovered: {title} no longer holds.\n{detail}\n")
    return True


def check_quota(account: DeveloperAccount) -> None:
    if account.quota is None:
        return
    set_condition(
        account,
        "low_quota",
        account.quota_low,
        f"{account.quota} left; the threshold is {account.low_quota_threshold}.",
    )


def check_upstream(account: DeveloperAccount, now=None) -> None:
    now = now or timezone.now()
    since = now - timedelta(minutes=settings.ALERT_UPSTREAM_MINUTES)
    recent = ApiCall.objects.filter(account=account, created_at__gte=since)
    if recent.filter(outcome="ok").exists():
        set_condition(account, "upstream_failing", False, "Calls succeed again.")
    elif recent.filter(outcome__in=("transport", "unreadable")).exists() and (
        last := recent.exclude(outcome="ok").order_by("-created_at").first()
    ):
        set_condition(
            account,
            "upstream_failing",
            True,
            f"No successful call for {settings.ALERT_UPSTREAM_MINUTES:g} minutes; "
            f"the last failure: {last.endpoint} {last.outcome} {last.msg}",
        )


def check_poller(account: DeveloperAccount, oldest_due, now=None) -> None:
    now = now or timezone.now()
    lag = (now - oldest_due).total_seconds() if oldest_due else 0.0
    set_condition(
        account,
        "poller_behind",
        lag > settings.ALERT_POLL_LAG_SECONDS,
        f"The most overdue waiting number has waited {lag:.0f} s for its poll.",
    )
