"""The audit log: every upstream call of the user's accounts."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from zhima_site.http import AuthenticatedHttpRequest
from zhima_site.paging import export_csv, page

from . import permissions
from .forms import AuditFilter
from .models import ApiCall


def filtered_calls(request: AuthenticatedHttpRequest):
    accounts = permissions.accounts_for(request.user)
    form = AuditFilter(request.GET or None, accounts=accounts)
    qs = ApiCall.objects.filter(account__in=accounts)
    if form.is_valid():
        d = form.cleaned_data
        for field in ("account", "endpoint", "outcome", "actor", "phone"):
            if d[field]:
                qs = qs.filter(**{field: d[field]})
        tz = timezone.get_current_timezone()
        if d["since"]:
            qs = qs.filter(created_at__gte=datetime.combine(d["since"], time.min, tzinfo=tz))
        if d["until"]:
            end = datetime.combine(d["until"], time.min, tzinfo=tz) + timedelta(days=1)
            qs = qs.filter(created_at__lt=end)
    return form, qs


@require_GET
def audit(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, qs = filtered_calls(request)
    rows, nxt = page(
        qs.select_related("account").defer("raw_body"), "created_at", request.GET.get("cursor")
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "accounts/audit.html",
        {
            "form": form,
            "rows": rows,
            "next": nxt,
            "query": query.urlencode(),
            "first": "cursor" in request.GET,
        },
    )


@require_GET
def audit_raw(request: AuthenticatedHttpRequest, pk) -> HttpResponse:
    call, _m = permissions.get_for_user(request.user, ApiCall.objects, pk)
    return render(request, "accounts/audit.html#raw", {"call": call})


AUDIT_COLUMNS = [
    ("time", "created_at"),
    ("account", "account__name"),
    ("actor", "actor"),
    ("endpoint", "endpoint"),
    ("params", "params"),
    ("http_status", "http_status"),
    ("latency_ms", "latency_ms"),
    ("outcome", "outcome"),
    ("msg", "msg"),
    ("phone", "phone"),
    ("lease_id", "lease_id"),
    ("raw_body", "raw_body"),
]


@require_GET
def audit_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, qs = filtered_calls(request)
    if form.is_bound and not form.is_valid():  # refused before a byte is streamed
        return HttpResponseBadRequest(form.errors_text(), content_type="text/plain")
    return export_csv("zhima-audit.csv", qs, ("-created_at", "-id"), AUDIT_COLUMNS)
