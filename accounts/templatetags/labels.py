"""``|endpoint_label``: an upstream endpoint's name (``get_numbers``) as the UI says it;
``|ago``: a time as "3 minutes ago"; ``|actor_label``: who did something, a background task
named as one ("automatically (auto-release)") rather than as ``task:auto-release``.

Registered as a template builtin (settings.TEMPLATES), like ``|shown``.
"""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, gettext_lazy

from accounts.models import ENDPOINT_LABELS

register = template.Library()


@register.filter
def endpoint_label(name: str) -> str:
    return str(ENDPOINT_LABELS.get(name, name))


@register.filter
def join_numbers(phones: str) -> str:
    """A batch call's numbers ("a,b,c") as "a, b, c", which wraps."""
    return ", ".join(n for n in phones.split(",") if n)


# The background tasks that act on their own, as the UI names them (the actor is stored as
# ``task:<name>``; a name not listed here is shown as stored).
TASK_LABELS = {
    "poller": gettext_lazy("poller"),
    "auto-release": gettext_lazy("auto-release"),
    "reconcile": gettext_lazy("reconcile"),
    "quota": gettext_lazy("quota refresh"),
    "items": gettext_lazy("item refresh"),
    "bootstrap": gettext_lazy("bootstrap"),
}


@register.filter
def actor_label(actor: str) -> str:
    if actor.startswith("task:"):
        task = actor.removeprefix("task:")
        return gettext("automatically (%(task)s)") % {"task": TASK_LABELS.get(task, task)}
    return actor


@register.filter
def ago(value, now=None) -> str:
    """How long ago, in the reader's language: "just now" under a minute (not "0 minutes
    ago"), else the largest unit ("3 minutes ago", "3 分钟前")."""
    if not value:
        return "—"
    now = now or timezone.now()
    if now - value < timedelta(minutes=1):
        return gettext("just now")
    return gettext("%(t)s ago") % {"t": timesince(value, now, depth=1)}
