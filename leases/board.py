"""The board of one lease request, and the codes that stay on screen after their number is gone.

A number is released automatically about a second after its code arrives; a tester who leased
several numbers would never see most codes if they left the screen with the number. So a code
stays on the request's board until the member dismisses it or ``BOARD_KEEP`` has passed, and
*Active* shows the codes received in the last ``RECENT`` too.

Dismissals are the member's own view of these pages, not lease state: they are kept in the
session (pruned once they could no longer matter), never in the lease rows the team shares.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts import permissions
from accounts.models import Role
from zhima_site.http import AuthenticatedHttpRequest

from . import services
from .models import ACTIVE_STATES, FINAL_STATES, HELD_STATES, Lease, LeaseRequest

BOARD_KEEP = timedelta(minutes=30)
RECENT = timedelta(minutes=10)
SESSION_KEY = "dismissed_codes"
LEASES = Lease.objects.select_related("item", "account", "user")


def board_url(lease_request: LeaseRequest | int) -> str:
    """Where a member lands after leasing several numbers at once."""
    return reverse("leases-board", args=[getattr(lease_request, "pk", lease_request)])


# -- dismissals ------------------------------------------------------------------------------------


def dismissed(request: HttpRequest) -> set[int]:
    return {int(pk) for pk in request.session.get(SESSION_KEY, {})}


def _dismiss(request: HttpRequest, pks: list[int]) -> None:
    """Remember ``pks`` as dismissed; entries older than the board keeps anything are dropped,
    so the session stays small however many codes a member dismisses."""
    now = timezone.now()
    cutoff = (now - BOARD_KEEP - timedelta(minutes=5)).isoformat()
    kept = {pk: at for pk, at in request.session.get(SESSION_KEY, {}).items() if at >= cutoff}
    kept.update({str(pk): now.isoformat() for pk in pks})
    request.session[SESSION_KEY] = kept


def _kept_since(lease: Lease) -> datetime:
    """A finished number stays on the board for ``BOARD_KEEP`` from its last code (or from its
    end when no code came)."""
    return lease.received_at or lease.ended_at or lease.leased_at


def recent_codes(request: HttpRequest, account_ids: list[int], now: datetime) -> list[Lease]:
    """Finished leases of these accounts whose code arrived within ``RECENT``, newest first,
    less the ones this member dismissed.

    A lease lives at most the upstream's forced-release time, so a code received since the
    cutoff belongs to a lease leased after ``cutoff - that time``: the (state, leased_at)
    index finds them without walking the history.
    """
    cutoff = now - RECENT
    lifetime = timedelta(minutes=settings.ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES + 5)
    rows = (
        LEASES.filter(
            account_id__in=account_ids,
            state__in=FINAL_STATES,
            leased_at__gte=cutoff - lifetime,
            received_at__gte=cutoff,
        )
        .exclude(code="")
        .exclude(pk__in=dismissed(request))
        .order_by("-received_at", "-id")[:50]
    )
    return list(rows)


def recent_mark(rows: list[Lease]) -> str:
    return f"{len(rows)}-{sum(r.pk for r in rows)}"


# -- the board -------------------------------------------------------------------------------------


def _board(request: AuthenticatedHttpRequest, pk: int):
    lease_request, membership = permissions.get_for_user(
        request.user, LeaseRequest.objects.select_related("item", "account", "user"), pk
    )
    now = timezone.now()
    gone = dismissed(request)
    rows, hidden = [], 0
    for lease in LEASES.filter(request=lease_request).order_by("id"):
        if lease.state in HELD_STATES or (
            lease.pk not in gone and _kept_since(lease) >= now - BOARD_KEEP
        ):
            rows.append(lease)
        else:
            hidden += 1
    return lease_request, membership, rows, hidden, now


@require_GET
def board(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lease_request, membership, rows, hidden, now = _board(request, pk)
    live = any(r.state in HELD_STATES for r in rows)
    mark = f"{len(rows)}-{hidden}-{sum(r.version for r in rows)}"
    if request.htmx and request.GET.get("v") == mark and live:
        return HttpResponse(status=204)
    ctx = {
        "req": lease_request,
        "leases": rows,
        "hidden": hidden,
        "live": live,
        "mark": mark,
        "now": now,
        "can_act": membership.allows(Role.OPERATOR),
        "held": sum(r.state in ACTIVE_STATES for r in rows),
        "codes": sum(bool(r.code) for r in rows),
    }
    if request.htmx:
        response = render(request, "leases/board.html#board", ctx)
        if not live:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "leases/board.html", ctx)


@require_POST
def dismiss(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Take a finished number's code off this member's board and *Active* (a held number stays:
    it still has to be released)."""
    lease, _m = permissions.get_for_user(request.user, Lease.objects, pk)
    if lease.state in FINAL_STATES:
        _dismiss(request, [lease.pk])
    if request.htmx:
        return HttpResponse("")  # the row is removed by hx-swap="delete"
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        nxt = board_url(lease.request_id) if lease.request_id else reverse("leases-active")
    return redirect(nxt)


@require_POST
def board_release(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Release every number of this request that is still held (the codes stay on the board)."""
    lease_request, _m = permissions.get_for_user(
        request.user, LeaseRequest.objects, pk, Role.OPERATOR
    )
    leases = list(Lease.objects.filter(request=lease_request, state__in=ACTIVE_STATES))
    if leases:
        release_and_tell(request, leases)
    return redirect(board_url(lease_request))


def release_and_tell(request: AuthenticatedHttpRequest, leases: list[Lease]) -> None:
    """Release the member's chosen numbers and say how it went (the board and Active)."""
    counts = services.release(request.user, leases)
    done = sum(counts.get(s, 0) for s in ("released", "expired"))
    messages.success(
        request,
        ngettext("Released %(n)s number.", "Released %(n)s numbers.", done) % {"n": done},
    )
    if counts.get("retry"):
        messages.warning(
            request,
            _("%(n)s could not be released now; retried automatically.") % {"n": counts["retry"]},
        )
