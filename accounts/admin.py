from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import lockout
from .audit import CallContext
from .crypto import SecretUnreadable
from .models import ApiCall, DeveloperAccount, Membership
from .quota import refresh_quota
from .upstream.errors import UpstreamError


class DeveloperAccountForm(forms.ModelForm):
    pkey = forms.CharField(
        label=_("pkey"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Write-only: stored encrypted, never shown. Leave empty to keep the current one."
        ),
    )

    class Meta:
        model = DeveloperAccount
        fields = [
            "name",
            "upstream_account",
            "pkey",
            "base_url",
            "sandbox",
            "active",
            "low_quota_threshold",
        ]

    def clean_base_url(self):
        """http(s) only, and on ``ZHIMA_UPSTREAM_HOSTS`` when that is set: the pkey is sent to
        this address."""
        value = self.cleaned_data["base_url"].strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError(_("A base URL starts with http:// or https://."))
        allowed = settings.ZHIMA_UPSTREAM_HOSTS
        if allowed and parts.hostname not in allowed and parts.netloc not in allowed:
            raise forms.ValidationError(
                _("This host is not among the allowed upstream hosts (ZHIMA_UPSTREAM_HOSTS).")
            )
        return value

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not self.instance.pk and not data.get("pkey"):
            self.add_error("pkey", _("A new developer account needs its pkey."))
        elif self.instance.pk and "base_url" in self.changed_data and not data.get("pkey"):
            # The stored key was entered for the old address; it goes nowhere else.
            self.add_error(
                "pkey", _("A new base URL needs the pkey again: the stored one stays with the old.")
            )
        return data

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("pkey"):
            account.set_pkey(self.cleaned_data["pkey"])
        if commit:
            account.save()
        return account


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(DeveloperAccount)
class DeveloperAccountAdmin(admin.ModelAdmin):
    form = DeveloperAccountForm
    list_display = ["name", "upstream_account", "sandbox", "active", "quota", "quota_read_at"]
    list_filter = ["sandbox", "active"]
    search_fields = ["name", "upstream_account"]
    readonly_fields = ["quota", "quota_read_at"]
    inlines = [MembershipInline]
    actions = ["verify_now"]

    # Calls the upstream with the stored key: for those who may change the account.
    @admin.action(description=_("Verify now (reads the quota)"), permissions=["change"])
    def verify_now(self, request, queryset):
        for account in queryset:
            ctx = CallContext.for_user(request.user)
            try:
                quota = refresh_quota(account, ctx)
            except (UpstreamError, SecretUnreadable) as exc:
                self.message_user(request, f"{account}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, _("%(a)s: verified, quota %(q)s") % {"a": account, "q": quota}
                )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "daily_budget", "monthly_budget"]
    list_filter = ["role", "account"]
    autocomplete_fields = ["user"]


@admin.register(ApiCall)
class ApiCallAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, here as everywhere."""

    list_display = [
        "created_at",
        "account",
        "actor",
        "endpoint",
        "outcome",
        "http_status",
        "latency_ms",
        "phone",
        "msg",
    ]
    list_filter = ["account", "endpoint", "outcome", "actor", "created_at"]
    search_fields = ["=phone"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ConsoleUserAdmin(UserAdmin):
    """Django's user admin, and an action to lift a sign-in lockout."""

    actions = ["unlock_sign_in"]

    @admin.action(description=_("Unlock sign-in (clear failed attempts)"), permissions=["change"])
    def unlock_sign_in(self, request, queryset):
        names = list(queryset.values_list(User.USERNAME_FIELD, flat=True))
        cleared = lockout.unlock(names)
        self.message_user(
            request,
            ngettext(
                "%(n)s user unlocked (%(c)s failed attempts cleared).",
                "%(n)s users unlocked (%(c)s failed attempts cleared).",
                len(names),
            )
            % {"n": len(names), "c": cleared},
        )
