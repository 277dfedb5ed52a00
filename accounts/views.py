"""The audit log: every upstream call of the user's accounts; self-service: the quota's
"refresh now", members' roles and budgets set by the account's managers; the member's API
tokens."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from zhima_site.http import AuthenticatedHttpRequest
from zhima_site.paging import export_csv, page

from . import members as membership_changes
from . import permissions, quota, tokens
from .audit import CallContext
from .crypto import SecretUnreadable
from .forms import AddMemberForm, AuditFilter, MembershipForm, TokenForm
from .models import ApiCall, ApiToken, DeveloperAccount, Membership, Role
from .upstream.errors import UpstreamError

log = logging.getLogger(__name__)


def filtered_calls(request: AuthenticatedHttpRequest):
    accounts = permissions.accounts_for(request.user)
    form = AuditFilter(request.GET or None, accounts=accounts)
    qs = ApiCall.objects.filter(account__in=accounts)
    if form.is_valid():
        d = form.cleaned_data
        for field in ("account", "endpoint", "outcome", "actor"):
            if d[field]:
                qs = qs.filter(**{field: d[field]})
        if d["phone"]:
            qs = qs.about_number(d["phone"].strip())
        if d["lease"]:
            qs = qs.of_lease(d["lease"], d["request"])
        if d["token"]:  # the actor of a call made through a token is "member · token"
            qs = qs.filter(actor=tokens.token_actor(d["token"].user, d["token"]))
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
    return export_csv(
        "zhima-audit.csv", filtered_calls(request), ("-created_at", "-id"), AUDIT_COLUMNS
    )


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


@require_http_methods(["GET", "POST"])
def members(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The account's members, each with a form for role and budgets, and one to add a
    console user; the account's managers only."""
    account, _m = permissions.get_for_user(
        request.user, DeveloperAccount.objects, pk, Role.MANAGER, account_field="pk"
    )
    add = AddMemberForm(request.POST or None, account=account, prefix="add")
    if request.method == "POST":
        if add.is_valid():
            m = add.save()
            log.info("%s added %s to %s as %s", request.user, m.user, account.name, m.role)
            messages.success(
                request,
                _("Added %(u)s to %(a)s as %(r)s.")
                % {"u": m.user.get_username(), "a": account.name, "r": m.get_role_display()},
            )
            return redirect("accounts-members", account.pk)
        return _members_page(request, account, add=add, status=400)
    return _members_page(request, account, add=add)


def _members_page(request, account, *, add=None, invalid=None, status=200) -> HttpResponse:
    rows = [
        (
            m,
            invalid
            if invalid and m.pk == invalid.instance.pk
            else MembershipForm(instance=m, prefix=f"m{m.pk}"),
        )
        for m in account.memberships.select_related("user").order_by("user__username")
    ]
    add = add or AddMemberForm(account=account, prefix="add")
    ctx = {"account": account, "rows": rows, "add": add}
    return render(request, "accounts/members.html", ctx, status=status)


def _membership(request: AuthenticatedHttpRequest, pk: int) -> Membership:
    membership, _m = permissions.get_for_user(
        request.user, Membership.objects.select_related("user", "account"), pk, Role.MANAGER
    )
    return membership


@require_POST
def member_update(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    form = MembershipForm(request.POST, instance=membership, prefix=f"m{membership.pk}")
    if form.is_valid():
        try:
            membership_changes.save(request.user, form.instance)
        except membership_changes.LastManager as exc:
            form.add_error("role", str(exc))
            return _members_page(request, membership.account, invalid=form, status=400)
        messages.success(
            request,
            _("Saved %(u)s on %(a)s.")
            % {"u": membership.user.get_username(), "a": membership.account.name},
        )
        return redirect("accounts-members", membership.account_id)
    return _members_page(request, membership.account, invalid=form, status=400)


@require_POST
def member_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Take a person off the account (their history and audit rows stay); the account keeps
    at least one manager (``accounts.members``)."""
    membership = _membership(request, pk)
    account = membership.account
    try:
        membership_changes.remove(request.user, membership)
    except membership_changes.LastManager as exc:
        messages.error(request, str(exc))
        return redirect("accounts-members", account.pk)
    log.info("%s removed %s from %s", request.user, membership.user, account.name)
    messages.success(
        request,
        _("Removed %(u)s from %(a)s.") % {"u": membership.user.get_username(), "a": account.name},
    )
    if membership.user_id == request.user.pk:
        return redirect("leases-overview")
    return redirect("accounts-members", account.pk)


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
        try:
            token, raw = tokens.issue(
                request.user,
                d["name"],
                expires_at=expires,
                read_only=d["read_only"],
                accounts=list(d["accounts"]),
            )
        except tokens.NameTaken:
            cache.delete(f"token-form:{request.user.pk}:{d['key']}")  # let a new name through
            form.add_error("name", TokenForm.name_taken(d["name"]))
        else:
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


@require_http_methods(["GET", "POST"])
def api_token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (a revoked token cannot be brought back); POST revokes."""
    token = ApiToken.objects.filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404("No such token")
    if request.method == "GET":
        if token.revoked_at is not None:
            return redirect("accounts-tokens")
        return render(request, "accounts/confirm_revoke.html", {"token": token})
    if tokens.revoke(token):
        messages.success(request, _("Token %(n)s revoked.") % {"n": token.name})
    return redirect("accounts-tokens")
