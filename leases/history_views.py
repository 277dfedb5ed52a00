"""Shared history (page and CSV) and spend: what the team did, read from the database."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts import permissions
from zhima_site.http import AuthenticatedHttpRequest
from zhima_site.paging import export_csv, page

from .forms import HistoryFilter
from .models import Lease, Message


def _day_bounds(form):
    tz = timezone.get_current_timezone()
    since = until = None
    if form.cleaned_data.get("since"):
        since = datetime.combine(form.cleaned_data["since"], time.min, tzinfo=tz)
    if form.cleaned_data.get("until"):
        until = datetime.combine(form.cleaned_data["until"], time.min, tzinfo=tz) + timedelta(1)
    return since, until


def filtered_leases(request: AuthenticatedHttpRequest):
    """The user's leases narrowed by the history filters; an invalid filter narrows nothing."""
    accounts = permissions.accounts_for(request.user)
    form = HistoryFilter(request.GET or None, accounts=accounts)
    qs = Lease.objects.filter(account__in=accounts)
    if form.is_valid():
        d = form.cleaned_data
        if d["account"]:
            qs = qs.filter(account=d["account"])
        if d["item"]:
            qs = qs.filter(item__item_id=d["item"])
        if d["member"]:
            qs = qs.filter(user__username=d["member"])
        if d["tag"]:
            qs = qs.filter(tag=d["tag"])
        if d["token"]:
            qs = qs.filter(token=d["token"])
        if d["state"]:
            qs = qs.filter(state=d["state"])
        since, until = _day_bounds(form)
        if since:
            qs = qs.filter(leased_at__gte=since)
        if until:
            qs = qs.filter(leased_at__lt=until)
        if d["q"]:
            qs = qs.filter(search_q(d["q"].strip()))
    return form, qs


def search_q(q: str) -> Q:
    """Digits (with an optional +) are a number prefix or a code, found through indexes; any
    other text is looked for in the SMS texts (a scan, so only when the words ask for it)."""
    if re.fullmatch(r"\+?\d+", q):
        return Q(phone__range=(q, q + "\uffff")) | Q(code=q)
    texts = Message.objects.filter(text__contains=q).values("lease_id")
    return Q(code=q) | Q(pk__in=texts)


@require_GET
def history(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, qs = filtered_leases(request)
    rows, nxt = page(
        qs.select_related("item", "account", "user", "token"),
        "leased_at",
        request.GET.get("cursor"),
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    ctx = {
        "form": form,
        "rows": rows,
        "next": nxt,
        "query": query.urlencode(),
        "first": "cursor" in request.GET,
    }
    return render(request, "leases/history.html", ctx)


HISTORY_COLUMNS = [
    ("leased_at", "leased_at"),
    ("account", "account__name"),
    ("item_id", "item__item_id"),
    ("item", "item__name"),
    ("phone", "phone"),
    ("member", "user__username"),
    ("token", "token__name"),
    ("tag", "tag"),
    ("state", "state"),
    ("code", "code"),
    ("cost", "cost"),
    ("reason", "end_reason"),  # a code (EndReason); its parameters follow as JSON
    ("reason_params", "end_params"),
    ("ended_at", "ended_at"),
]


@require_GET
def history_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    return export_csv(
        "zhima-history.csv", filtered_leases(request), ("-leased_at", "-id"), HISTORY_COLUMNS
    )


# -- spend -------------------------------------------------------------------------------------


@require_GET
def spend(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 366))
    except ValueError:
        days = 30
    since = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since -= timedelta(days=days - 1)
    qs = Lease.objects.filter(
        account__in=permissions.accounts_for(request.user), leased_at__gte=since
    )
    per_day = list(
        qs.annotate(day=TruncDate("leased_at"))
        .values("day")
        .annotate(n=Count("id"), cost=Sum("cost"))
        .order_by("day")
    )
    per_item = list(
        qs.values("item__item_id", "item__name", "account__name")
        .annotate(n=Count("id"), cost=Sum("cost"))
        .order_by("-cost")
    )
    per_member = list(
        qs.values("user__username").annotate(n=Count("id"), cost=Sum("cost")).order_by("-cost")
    )
    by_day: defaultdict[date, Mapping[str, Any]] = defaultdict(lambda: {"n": 0, "cost": 0})
    for row in per_day:
        by_day[row["day"]] = row
    labels = [(since + timedelta(days=i)).date() for i in range(days)]
    chart = {
        "labels": [d.isoformat() for d in labels],
        "leases": [by_day[d]["n"] for d in labels],
        "cost": [float(by_day[d]["cost"] or 0) for d in labels],
        "leases_label": _("Leases"),
        "cost_label": _("Spend"),
    }
    ctx = {
        "per_day": per_day,
        "per_item": per_item,
        "per_member": per_member,
        "chart": chart,
        "days": days,
        "total": qs.aggregate(n=Count("id"), cost=Sum("cost")),
    }
    return render(request, "leases/spend.html", ctx)
