"""The one permission gate: who may see and do what on which developer account.

A user sees only the developer accounts they are a member of; within one, the membership's
role decides: viewer (reads), operator (leases, releases, sends, blacklists), manager (also
release all). An object of an account the user is not a member of does not exist for them
(404); an action above their role is forbidden (403). Views, fragments, actions and services
all go through these functions.

A member acting through an API token (``user.api_token``, see ``accounts.tokens``) has the same
roles, narrowed by the token: only its accounts when it was limited to some (none once they are
all deleted), and viewer at most when it is read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Manager, Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy

from .models import DeveloperAccount, Membership, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class SystemActor:
    """The operator at the server's command line (``manage.py zhima --dev-account``): whoever
    can run it can read the database and the keys anyway, so the gate lets it act as a
    manager without a membership or a budget."""

    is_authenticated = True
    is_active = True
    pk = None
    id = None

    def __init__(self, name: str):
        self.name = name

    def get_username(self) -> str:
        return self.name


# Every "no such object for you" is this one 404, whatever the reason (another account, no
# such id, an id no row can have): a member or a narrowed token cannot tell which ids exist.
NOT_FOUND = gettext_lazy("Not found.")

# Whoever acts: a signed-in user, the anonymous one (who sees nothing), or the command line.
type Actor = User | AnonymousUser | SystemActor


def _narrow(user: User, qs: QuerySet[Membership]) -> QuerySet[Membership]:
    token = getattr(user, "api_token", None)
    if token is not None and token.limited:
        # Only its accounts; none at all once every one of them is deleted.
        qs = qs.filter(account_id__in=token.account_ids)
    return qs


def _read_only(user: User | AnonymousUser, role: str) -> bool:
    token = getattr(user, "api_token", None)
    return token is not None and token.read_only and role != Role.VIEWER


def memberships(user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return _narrow(user, Membership.objects.filter(user=user).select_related("account"))


def account_ids(user: User | AnonymousUser, role: str = Role.VIEWER) -> list[int]:
    if _read_only(user, role):
        return []
    return [m.account_id for m in memberships(user) if m.allows(role)]


def accounts_for(user: User | AnonymousUser, role: str = Role.VIEWER) -> QuerySet[DeveloperAccount]:
    return DeveloperAccount.objects.filter(pk__in=account_ids(user, role))


def managed_accounts(user: User | AnonymousUser) -> QuerySet[DeveloperAccount]:
    """The developer accounts the user manages: every one for staff, else those where the
    user is a manager. The navigation's Operations link and the operations page ask this."""
    if not user.is_authenticated:
        return DeveloperAccount.objects.none()
    if user.is_staff:
        return DeveloperAccount.objects.all()
    # One query (the navigation asks on every page); manager is the highest role.
    return DeveloperAccount.objects.filter(
        memberships__user=user, memberships__role=Role.MANAGER
    ).distinct()


def manages_any(user: User | AnonymousUser) -> bool:
    """Whether the operations page is for this user (staff, or a manager of an account)."""
    return user.is_authenticated and (user.is_staff or managed_accounts(user).exists())


def one[M: Model](qs: QuerySet[M]) -> M | None:
    """The row of a lookup by a unique key, or None (``first()`` would order it by pk)."""
    return next(iter(qs.order_by()[:1]), None)


def accounts_list(user: User | AnonymousUser, role: str = Role.VIEWER) -> list[DeveloperAccount]:
    """``accounts_for`` read at once, in one query."""
    if _read_only(user, role):
        return []
    return [m.account for m in memberships(user) if m.allows(role)]


def membership(user: User | AnonymousUser, account_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return one(_narrow(user, Membership.objects.filter(user=user, account_id=account_id)))


def require(user: Actor, account_id: int, role: str = Role.VIEWER) -> Membership:
    """The user's membership of the account, or 404 when none, or 403 when the role is short."""
    if isinstance(user, SystemActor):
        return Membership(account_id=account_id, role=Role.MANAGER)
    m = membership(user, account_id)
    if m is None:
        raise Http404(NOT_FOUND)
    if _read_only(user, role):
        raise PermissionDenied("This token is read-only")
    if not m.allows(role):
        raise PermissionDenied("Your role on this account does not allow this")
    return m


def get_for_user[M: Model](
    user: Actor,
    queryset: QuerySet[M] | Manager[M],
    pk: str | int,
    role: str = Role.VIEWER,
    account_field: str = "account_id",
) -> tuple[M, Membership]:
    """An object whose account the user is a member of (404 otherwise), with the membership.

    ``pk`` may come straight from a URL or form: anything that is not a whole number is a 404.
    """
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND) from None
    if not 0 < pk < 2**63:  # no row has it, and the database driver would overflow on it
        raise Http404(NOT_FOUND)
    obj = one(queryset.filter(pk=pk))
    if obj is None:
        raise Http404(NOT_FOUND)
    return obj, require(user, getattr(obj, account_field), role)
