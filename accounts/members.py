"""The changes to an account's memberships that could leave it without a manager: a role
change and a removal.

Each runs in a transaction that first locks the account's row (``select_for_update``; on
SQLite the transaction takes the write lock as it starts), then checks that the one acting is
still a manager and counts the managers. Two managers demoting or removing each other at the
same moment, on two web processes, act one after the other, and the second sees the first's
change: the account always keeps a manager, and one who has just lost the role acts no more.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from . import permissions
from .models import DeveloperAccount, Membership, Role


class LastManager(Exception):
    """The change would leave the account without a manager; ``str()`` says so."""


def _lock(actor: permissions.Actor, account_id: int) -> None:
    """Within a transaction: hold the account's row, then require the actor to manage it."""
    list(DeveloperAccount.objects.select_for_update().filter(pk=account_id).values("pk"))
    permissions.require(actor, account_id, Role.MANAGER)


def _stored_role(membership: Membership) -> str:
    role = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    if role is None:
        raise Http404("No such member")
    return role


def _last_manager(membership: Membership) -> bool:
    managers = Membership.objects.filter(account_id=membership.account_id, role=Role.MANAGER)
    return not managers.exclude(pk=membership.pk).exists()


def save(actor: permissions.Actor, membership: Membership) -> None:
    """Store a member's role and budgets (as a form set them on ``membership``)."""
    with transaction.atomic():
        _lock(actor, membership.account_id)
        demoted = _stored_role(membership) == Role.MANAGER and membership.role != Role.MANAGER
        if demoted and _last_manager(membership):
            raise LastManager(_("The account's last manager keeps that role."))
        membership.save(update_fields=["role", "daily_budget", "monthly_budget"])


def remove(actor: permissions.Actor, membership: Membership) -> None:
    """Take a member off the account (their history and audit rows stay)."""
    with transaction.atomic():
        _lock(actor, membership.account_id)
        if _stored_role(membership) == Role.MANAGER and _last_manager(membership):
            raise LastManager(_("The account's last manager cannot be removed."))
        Membership.objects.filter(pk=membership.pk).delete()
