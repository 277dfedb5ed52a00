"""The items page: each account's items with their status and price tiers; operators add and
refresh items, managers retire them."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions
from accounts.audit import CallContext
from accounts.models import Role
from zhima_site.http import AuthenticatedHttpRequest

from . import catalog
from .errors import ServiceError
from .forms import AddItemForm
from .models import Item


@require_GET
def items(request: AuthenticatedHttpRequest) -> HttpResponse:
    accounts = permissions.accounts_for(request.user)
    rows = (
        Item.objects.filter(account__in=accounts)
        .select_related("account")
        .order_by(F("retired_at").asc(nulls_first=True), "account__name", "item_id")
    )
    ops = permissions.account_ids(request.user, Role.OPERATOR)
    managed = permissions.account_ids(request.user, Role.MANAGER)
    add = AddItemForm(accounts=permissions.accounts_for(request.user, Role.OPERATOR))
    ctx = {"items": rows, "operator_ids": ops, "manager_ids": managed, "add": add}
    return render(request, "leases/items.html", ctx)


@require_POST
def item_retire(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A manager retires an item (or brings it back): not leasable, kept for the history."""
    item, _m = permissions.get_for_user(request.user, Item.objects, pk, Role.MANAGER)
    retire = request.POST.get("retire") != "0"
    catalog.set_retired(item, retire)
    msg = _("Item %(i)s retired.") if retire else _("Item %(i)s can be leased again.")
    messages.success(request, msg % {"i": item.item_id})
    return redirect("leases-items")


@require_POST
def item_refresh(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    item, _m = permissions.get_for_user(
        request.user, Item.objects.select_related("account"), pk, Role.OPERATOR
    )
    try:
        catalog.refresh_item(item.account, item.item_id, CallContext.for_user(request.user))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Item %(i)s refreshed.") % {"i": item.item_id})
    return redirect("leases-items")


@require_POST
def item_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AddItemForm(request.POST, accounts=permissions.accounts_for(request.user, Role.OPERATOR))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("leases-items")
    d = form.cleaned_data
    try:
        item, new = catalog.add_item(d["account"], d["item_id"], CallContext.for_user(request.user))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        names = {"i": item.item_id, "m": item.name or item.msg}
        if new:
            messages.success(request, _("Item %(i)s added: %(m)s") % names)
        else:
            messages.info(request, _("Item %(i)s (%(m)s) is already there; refreshed.") % names)
    return redirect("leases-items")
