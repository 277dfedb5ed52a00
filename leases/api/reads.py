"""What a waiting ``/code`` request reads, on the API's database threads: the lease's
visibility, the member's authority as it stands now, and the first newer message."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja.errors import AuthenticationError

from accounts import permissions, tokens

from ..choices import FINAL_STATES
from ..models import Lease, LeaseState, Message


def visible(user, lease_id: int) -> int:
    """The lease's account, when the user may read the lease (404 otherwise)."""
    lease, _membership = permissions.get_for_user(
        user, Lease.objects.only("pk", "account_id"), lease_id
    )
    return lease.account_id


def look(user, lease_id: int, after: int, checked: bool):
    """``newer``, with the member's authority checked again unless it was just now: 401
    once the token is revoked or expired, 404 once the lease is out of its reach."""
    if not checked:
        user = tokens.recheck(user)
        if user is None:
            raise AuthenticationError()
        visible(user, lease_id)
    return newer(lease_id, after)


def allowed(user, account_id: int) -> bool:
    """Whether the token and the membership behind ``user`` still reach the account."""
    fresh = tokens.recheck(user)
    if fresh is None:
        return False
    try:
        permissions.require(fresh, account_id)
    except (Http404, PermissionDenied):
        return False
    return True


def newer(lease_id: int, after: int):
    """The first received message after ``after``, or whether the lease has ended."""
    msg = (
        Message.objects.filter(lease_id=lease_id, direction=Message.Direction.RECEIVED)
        .filter(id__gt=after)
        .order_by("id")
        .first()
    )
    if msg is not None:
        return msg, None
    state = Lease.objects.filter(pk=lease_id).values_list("state", flat=True).first()
    ended = state in FINAL_STATES or state == LeaseState.RELEASING
    return None, state if ended else None
