from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from .clients import CallContext
from .crypto import SecretUnreadable
from .models import ApiCall, DeveloperAccount, Membership
from .quota import refresh_quota
from .upstream.client import UpstreamError


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

    def clean(self):
        data = super().clean()
        if not self.instance.pk and not data.get("pkey"):
            self.add_error("pkey", _("A new developer account needs its pkey."))
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

    @admin.action(description=_("Verify now (reads the quota)"))
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
