"""The console: overview, lease form, the live lease page and its actions, active leases.

Every view goes through ``accounts.permissions``; every change is a POST and goes through
``leases.services``. Live regions are fragments of the same templates (``{% partialdef %}``),
polled by the browser; they read the database only and never cause an upstream call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts import permissions
from accounts.models import ApiCall, DeveloperAccount, Membership, Role
from zhima_site.http import AuthenticatedHttpRequest

from . import board, dashboard, estimates, services
from .errors import ServiceError
from .forms import LeaseForm, SendForm
from .models import Item, Lease, LeaseRequest, Message, held_rows

LEASES = Lease.objects.select_related("item", "account", "user", "token")


def _not_modified(request: AuthenticatedHttpRequest, mark: str) -> bool:
    return bool(request.htmx) and request.GET.get("v") == mark


def _active_for(user):
    """The user's leases that hold a number, and a mark that changes whenever one does.

    The held leases are found through the (state, next_poll_at) index alone and narrowed to
    the user's accounts here: they are few, whereas the history behind them may be millions
    of rows that an account-first plan would walk.
    """
    mine = set(permissions.account_ids(user))
    rows = [
        (pk, version)
        for pk, account_id, version in held_rows("pk", "account_id", "version")
        if account_id in mine
    ]
    mark = f"{len(rows)}-{sum(v for _, v in rows)}-{max((pk for pk, _ in rows), default=0)}"
    return LEASES.filter(pk__in=[pk for pk, _ in rows]), mark


# -- overview ------------------------------------------------------------------------------------


@require_GET
def overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    ids = permissions.account_ids(request.user)
    active, mark = _active_for(request.user)
    if _not_modified(request, mark):
        return HttpResponse(status=204)
    members = list(permissions.memberships(request.user).order_by("account__name"))
    quotas = estimates.estimated_quotas([m.account for m in members])
    cards = dashboard.account_cards(request.user, members, quotas)
    latest = (
        Message.objects.filter(lease__account_id__in=ids, direction=Message.Direction.RECEIVED)
        .select_related("lease", "lease__item")
        .order_by("-created_at", "-id")[:8]
    )
    ctx = {
        "figures": dashboard.figures(request.user, cards, quotas),
        "cards": cards,
        "low": [c for c in cards if c["low"] and c["account"].active],
        "active": active.order_by("-leased_at", "-id")[:50],
        "mark": mark,
        "latest": latest,
        "now": timezone.now(),
    }
    if request.htmx:
        return render(request, "leases/overview.html#live", ctx)
    return render(request, "leases/overview.html", ctx)


# -- the lease form -------------------------------------------------------------------------------


def _initial(request: AuthenticatedHttpRequest, form_items) -> dict:
    """The form's starting values: ``?again=<lease>`` repeats a lease's choices, other query
    parameters pre-fill their fields, and the item defaults to the member's last one."""
    initial: dict[str, Any] = request.GET.dict()
    initial.pop("key", None)  # every unbound form gets a fresh request key
    again = initial.pop("again", "")
    if again:
        lease, _m = permissions.get_for_user(request.user, LEASES, again)
        initial = {**LeaseForm.again(lease), **initial}
    if not initial.get("item"):
        recent = (
            LeaseRequest.objects.filter(user=request.user, item__in=form_items)
            .select_related("item")
            .order_by("-created_at", "-id")[:5]
        )
        # The last item that can still be leased (an expired one is shown, but disabled).
        last = next((r.item_id for r in recent if r.item.usable), None)
        if last:
            initial["item"] = last
    return initial


def _info_context(request: AuthenticatedHttpRequest, item: Item | None, quantity) -> dict:
    """The side panel: the item, and the price, budgets and quota of this lease."""
    if item is None:
        return {"info": None, "quote": None}
    try:
        n = int(quantity)
    except (TypeError, ValueError):
        n = 1
    membership = permissions.membership(request.user, item.account_id)
    return {"info": item, "quote": estimates.quote(request.user, item, n, membership)}


def _landing(request_pk: int, leases: list[int]) -> str:
    """Where a successful lease lands: the number's page, or the request's board for several."""
    if len(leases) == 1:
        return reverse("leases-detail", args=[leases[0]])
    return reverse("leases-board", args=[request_pk])


@require_http_methods(["GET", "POST"])
def new(request: AuthenticatedHttpRequest) -> HttpResponse:
    accounts = permissions.accounts_for(request.user, Role.OPERATOR)
    if request.method == "POST":
        form = LeaseForm(request.POST, accounts=accounts)
    else:
        form = LeaseForm(accounts=accounts)
        form.initial.update(_initial(request, form.item_field.queryset))
    error = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            req = services.lease_numbers(
                request.user,
                d["item"],
                key=d["key"],
                quantity=d["quantity"],
                carrier=d["carrier"],
                area_code=d["area_code"],
                international=d["international"],
                phone=d["phone"],
            )
        except ServiceError as exc:
            error = exc
        else:
            if req.outcome != req.Outcome.DONE:
                error = ServiceError(req.msg or _("This request was already submitted."))
            else:
                leases = list(req.lease_set.values_list("pk", flat=True))
                url = _landing(req.pk, leases)
                messages.success(
                    request,
                    ngettext("Leased %(n)s number.", "Leased %(n)s numbers.", len(leases))
                    % {"n": len(leases)},
                )
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        # A new key: the failed submission is finished, the next one is a new request, so
        # the form left filled in leases another like this one.
        data = request.POST.copy()
        data["key"] = LeaseForm(accounts=accounts).initial["key"]
        form = LeaseForm(data, accounts=accounts)
        form.is_valid()
    item = form["item"].value()
    info = (
        Item.objects.filter(pk=item, account__in=accounts).select_related("account").first()
        if str(item).isdigit()
        else None
    )
    ctx = {
        "form": form,
        "error": error,
        "has_accounts": accounts.exists(),
        **_info_context(request, info, form["quantity"].value()),
    }
    if request.htmx:
        return render(request, "leases/new.html#form", ctx)
    return render(request, "leases/new.html", ctx)


@require_GET
def item_info(request: AuthenticatedHttpRequest) -> HttpResponse:
    accounts = permissions.accounts_for(request.user)
    pk = request.GET.get("item", "")
    info = (
        Item.objects.filter(pk=pk, account__in=accounts).select_related("account").first()
        if pk.isdigit()
        else None
    )
    ctx = _info_context(request, info, request.GET.get("quantity", "1"))
    return render(request, "leases/new.html#info", ctx)


# -- one lease ------------------------------------------------------------------------------------


def _lease(
    request: AuthenticatedHttpRequest, pk: int, role: str = Role.VIEWER
) -> tuple[Lease, Membership]:
    lease, membership = permissions.get_for_user(request.user, LEASES, pk, role)
    return lease, membership


@require_GET
def detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lease, membership = _lease(request, pk)
    if _not_modified(request, str(lease.version)) and not lease.final:
        return HttpResponse(status=204)
    ctx = _detail_context(lease, membership)
    if request.htmx:
        response = render(request, "leases/detail.html#status", ctx)
        if lease.final:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "leases/detail.html", ctx)


def _detail_context(lease: Lease, membership: Membership, send_form: SendForm | None = None):
    messages_out = list(lease.messages.filter(direction=Message.Direction.SENT))
    return {
        "lease": lease,
        "can_act": membership.allows(Role.OPERATOR),
        "messages_in": lease.messages.filter(direction=Message.Direction.RECEIVED),
        "messages_out": messages_out,
        "events": lease.events.all()[:100],
        "calls": ApiCall.objects.of_lease(lease.pk, lease.request_id).count(),
        # A one-SMS item offers no second send; a refused text comes back in the form.
        "send_form": send_form or SendForm(),
        "can_send_more": bool(send_form or not messages_out or lease.item.sends_several),
    }


def _act(
    request: AuthenticatedHttpRequest,
    pk: int,
    action: Callable[[Lease], Any],
    ok_message: str | Callable[[Any], str] | None,
) -> HttpResponse:
    lease, _m = _lease(request, pk, Role.OPERATOR)
    try:
        result = action(lease)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        if ok_message is not None:
            messages.success(request, ok_message(result) if callable(ok_message) else ok_message)
    url = reverse("leases-detail", args=[lease.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
def release(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(
        request, pk, lambda lease: services.release_one(request.user, lease), _("Released.")
    )


@require_http_methods(["GET", "POST"])
def blacklist(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if request.method == "GET":
        lease, _m = _lease(request, pk, Role.OPERATOR)
        return render(request, "leases/confirm_blacklist.html", {"lease": lease})
    return _act(
        request,
        pk,
        lambda lease: services.blacklist(request.user, lease),
        _("Blacklisted: this number will not be given out again for this item."),
    )


@require_POST
def send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    form = SendForm(request.POST)
    if not form.is_valid():
        lease, _m = _lease(request, pk, Role.OPERATOR)
        if "key" in form.errors:
            messages.error(request, str(form.errors["key"][0]))
        else:
            messages.error(request, _("The SMS text must not be empty (at most 500 characters)."))
        return redirect("leases-detail", lease.pk)
    d = form.cleaned_data
    lease, membership = _lease(request, pk, Role.OPERATOR)
    try:
        services.send_sms(request.user, lease, d["text"], key=d["key"])
    except ServiceError as exc:
        # The page again, with the typed text kept for the tester to copy or send again.
        messages.error(request, str(exc))
        lease.refresh_from_db()
        ctx = _detail_context(lease, membership, send_form=form)
        return render(request, "leases/detail.html", ctx, status=409)
    messages.success(request, _("SMS sent."))
    return redirect("leases-detail", lease.pk)


@require_POST
def send_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda lease: services.send_status(request.user, lease),
        lambda answer: _("Send status: %(a)s") % {"a": answer},
    )


@require_POST
def keep_waiting(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda lease: services.keep_waiting(request.user, lease),
        None,  # the page says so itself, in its live part: a note would outlive the wait
    )


# -- active leases ---------------------------------------------------------------------------------


@require_GET
def active(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs, mark = _active_for(request.user)
    now = timezone.now()
    recent = board.recent_codes(request, permissions.account_ids(request.user), now)
    mark = f"{mark}-{board.recent_mark(recent)}"
    if _not_modified(request, mark):
        return HttpResponse(status=204)
    managed = permissions.accounts_for(request.user, Role.MANAGER)
    ctx = {
        "leases": qs.order_by("-leased_at", "-id")[:500],
        "recent": recent,
        "mark": mark,
        "managed": managed,
        "now": now,
    }
    if request.htmx:
        return render(request, "leases/active.html#rows", ctx)
    return render(request, "leases/active.html", ctx)


@require_POST
def release_selected(request: AuthenticatedHttpRequest) -> HttpResponse:
    # ids past a 64-bit integer exist nowhere (and would overflow the database driver)
    ids = [i for i in request.POST.getlist("lease") if i.isdigit() and int(i) < 2**63]
    ops = permissions.account_ids(request.user, Role.OPERATOR)
    leases = list(Lease.objects.active().filter(pk__in=ids, account_id__in=ops))
    if not leases:
        messages.error(request, _("Select at least one number you may release."))
    else:
        board.release_and_tell(request, leases)
    return redirect("leases-active")


@require_http_methods(["GET", "POST"])
def release_all(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    account, _m = permissions.get_for_user(
        request.user, DeveloperAccount.objects, pk, Role.MANAGER, account_field="pk"
    )
    if request.method == "GET":
        held = Lease.objects.held().filter(account=account).count()
        return render(
            request, "leases/confirm_release_all.html", {"account": account, "held": held}
        )
    try:
        n = services.release_all(request.user, account)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Released every number of %(a)s (%(n)s in the console).")
            % {"a": account.name, "n": n},
        )
    return redirect("leases-active")
