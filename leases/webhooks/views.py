"""The webhooks page of a developer account: its managers register, pause and remove URLs
and read the delivery log. Every view goes through ``accounts.permissions`` (manager)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import permissions
from accounts.models import DeveloperAccount, Role
from zhima_site.http import AuthenticatedHttpRequest

from . import delivery as webhooks
from .models import EVENT_CHOICES, Webhook, WebhookDelivery, validate_webhook_url

LOG_SIZE = 20


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=500,
        validators=[validate_webhook_url],
        assume_scheme="https",
        help_text=gettext_lazy("http or https; it receives a signed POST for each event."),
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=[c for c, _label in EVENT_CHOICES],
    )
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"),
        required=False,
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Empty: a new secret is generated and shown once."),
    )


def _account(request: AuthenticatedHttpRequest, pk: int) -> DeveloperAccount:
    account, _m = permissions.get_for_user(
        request.user, DeveloperAccount.objects, pk, Role.MANAGER, account_field="pk"
    )
    return account


def _page(request, account, form, new_secret: str = "", status: int = 200) -> HttpResponse:
    hooks = list(account.webhooks.all())
    for hook in hooks:
        hook.recent = list(hook.deliveries.prefetch_related("attempt_log")[:LOG_SIZE])
    ctx = {"account": account, "hooks": hooks, "form": form, "new_secret": new_secret}
    return render(request, "leases/webhooks.html", ctx, status=status)


@never_cache  # the answer to an added endpoint shows its new secret: no cache may keep it
@require_http_methods(["GET", "POST"])
def webhooks_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    if request.method == "GET":
        return _page(request, account, WebhookForm())
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _page(request, account, form, status=400)
    try:
        hook, secret = webhooks.add_webhook(
            account,
            form.cleaned_data["url"],
            form.cleaned_data["events"],
            form.cleaned_data["secret"],
            user=request.user,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _page(request, account, form, status=400)
    messages.success(request, _("Webhook added: %(url)s") % {"url": hook.shown_url})
    # The generated secret is shown in this answer only: never stored in clear, never in a
    # message (those travel in cookies) nor in a redirect.
    shown = "" if form.cleaned_data["secret"] else secret
    return _page(request, account, WebhookForm(), new_secret=shown, status=201)


def _hook(request: AuthenticatedHttpRequest, pk: int) -> Webhook:
    hook, _m = permissions.get_for_user(request.user, Webhook.objects, pk, Role.MANAGER)
    return hook


@require_POST
def webhook_toggle(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    Webhook.objects.filter(pk=hook.pk).update(active=not hook.active)
    return redirect("leases-webhooks", hook.account_id)


@require_http_methods(["GET", "POST"])
def webhook_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (its delivery log goes with it); POST removes."""
    hook = _hook(request, pk)
    if request.method == "GET":
        return render(request, "leases/confirm_webhook_remove.html", {"hook": hook})
    hook.delete()
    messages.success(request, _("Webhook removed: %(url)s") % {"url": hook.shown_url})
    return redirect("leases-webhooks", hook.account_id)


@require_POST
def webhook_test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    webhooks.send_test(hook)
    messages.success(
        request,
        _("A test event is on its way to %(url)s; its delivery is logged below.")
        % {"url": hook.shown_url},
    )
    return redirect("leases-webhooks", hook.account_id)


@require_POST
def webhook_redeliver(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    delivery, _m = permissions.get_for_user(
        request.user,
        WebhookDelivery.objects.select_related("webhook").annotate(
            account_id=F("webhook__account_id")
        ),
        pk,
        Role.MANAGER,
    )
    webhooks.redeliver(delivery)
    return redirect("leases-webhooks", delivery.webhook.account_id)
