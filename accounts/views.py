"""The audit log: every upstream call of the user's accounts; self-service: the quota's
"refresh now", members' roles and budgets set by the account's managers; the member's API
tokens."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from zhima_site.http import AuthenticatedHttpRequest
from zhima_site.paging import export_csv, page

from . import permissions, quota, tokens
from .clients import CallContext
from .crypto import SecretUnreadable
from .forms import AuditFilter, MembershipForm, TokenForm
from .models import ApiCall, ApiToken, DeveloperAccount, Membership, Role
from .upstream.client import UpstreamError


def filtered_calls(request: AuthenticatedHttpRequest):
    accounts = permissions.accounts_for(request.user)
    form = AuditFilter(request.GET or None, accounts=accounts)
    qs = ApiCall.objects.filter(account__in=accounts)
    if form.is_valid():
        d = form.cleaned_data
        for field in ("account", "endpoint", "outcome", "actor", "phone"):
            if d[field]:
                qs = qs.filter(**{field: d[field]})
        if d["token"]:  # the actor of a call made through a token is "member · token"
            qs = qs.filter(actor__endswith=f" · {d['token']}")
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
def audit_raw(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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


# -- self-service: quota, members ---------------------------------------------------------------


@require_POST
def quota_refresh(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A manager's "refresh now": the quota read from the upstream at once."""
    account, _m = permissions.get_for_user(
        request.user, DeveloperAccount.objects, pk, Role.MANAGER, account_field="pk"
    )
    try:
        left = quota.refresh_quota(account, CallContext.for_user(request.user))
    except (UpstreamError, SecretUnreadable) as exc:
        messages.error(
            request,
            _("The quota of %(a)s could not be read: %(e)s") % {"a": account.name, "e": exc},
        )
    else:
        messages.success(request, _("Quota of %(a)s read: %(n)s.") % {"a": account.name, "n": left})
    return redirect("leases-overview")


@require_GET
def members(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    account, _m = permissions.get_for_user(
        request.user, DeveloperAccount.objects, pk, Role.MANAGER, account_field="pk"
    )
    rows = [
        (m, MembershipForm(instance=m, prefix=f"m{m.pk}"))
        for m in account.memberships.select_related("user").order_by("user__username")
    ]
    return render(request, "accounts/members.html", {"account": account, "rows": rows})


@require_POST
def member_update(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    membership, _m = permissions.get_for_user(
        request.user, Membership.objects.select_related("user", "account"), pk, Role.MANAGER
    )
    form = MembershipForm(request.POST, instance=membership, prefix=f"m{membership.pk}")
    if form.is_valid():
        form.instance.save(update_fields=["role", "daily_budget", "monthly_budget"])
        messages.success(
            request,
            _("Saved %(u)s on %(a)s.")
            % {"u": membership.user.get_username(), "a": membership.account.name},
        )
        return redirect("accounts-members", membership.account_id)
    account = membership.account
    rows = [
        (m, form if m.pk == membership.pk else MembershipForm(instance=m, prefix=f"m{m.pk}"))
        for m in account.memberships.select_related("user").order_by("user__username")
    ]
    ctx = {"account": account, "rows": rows}
    return render(request, "accounts/members.html", ctx, status=400)


# -- API tokens ----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def api_tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The member's own tokens; a new one is shown once, in this response only."""
    accounts = DeveloperAccount.objects.filter(memberships__user=request.user)
    form = TokenForm(request.POST or None, accounts=accounts)
    created = None
    if request.method == "POST" and form.is_valid() and not _first_use(request, form):
        messages.info(
            request,
            _("This form was already sent; its token was shown then and cannot be shown again."),
        )
        form = TokenForm(accounts=accounts)
    elif request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        expires = None
        if d["expires"]:
            tz = timezone.get_current_timezone()
            expires = datetime.combine(d["expires"], time.min, tzinfo=tz)
        token, raw = tokens.issue(
            request.user,
            d["name"],
            expires_at=expires,
            read_only=d["read_only"],
            accounts=list(d["accounts"]),
        )
        created = {"token": token, "raw": raw}
        form = TokenForm(accounts=accounts)
    rows = ApiToken.objects.filter(user=request.user).prefetch_related("accounts")
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "rows": rows, "created": created, "now": timezone.now()},
    )


def _first_use(request: AuthenticatedHttpRequest, form: TokenForm) -> bool:
    """Whether this submission's key is new (a day's memory of it is enough for a reload)."""
    return cache.add(f"token-form:{request.user.pk}:{form.cleaned_data['key']}", 1, 24 * 3600)


@require_POST
def api_token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=pk if str(pk).isdigit() else 0, user=request.user).first()
    if token is None:
        raise Http404("No such token")
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
        messages.success(request, _("Token %(n)s revoked.") % {"n": token.name})
    return redirect("accounts-tokens")
