from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from accounts import permissions
from accounts.models import Role

from . import services
from .models import EndReason, Item, Lease, LeaseState, Message


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["item_id", "name", "account", "status", "type", "price_raw", "refreshed_at"]
    list_filter = ["account", "status", "type"]
    search_fields = ["item_id", "name"]
    readonly_fields = ["refreshed_at", "tiers"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = readonly_fields = ("created_at", "direction", "text", "code", "status")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = [
        "phone",
        "item",
        "account",
        "user",
        "state",
        "code",
        "leased_at",
        "cost",
        "reason",
    ]
    list_filter = ["state", "account"]
    search_fields = ["=phone", "=code"]
    date_hierarchy = "leased_at"
    show_full_result_count = False
    list_select_related = ["item", "account", "user"]
    readonly_fields = [f.name for f in Lease._meta.fields]
    inlines = [MessageInline]
    actions = ["release"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("reason"))
    def reason(self, obj: Lease) -> str:
        return obj.end_text

    @admin.action(description=_("Release the selected numbers"), permissions=["change"])
    def release(self, request, queryset):
        """Through ``services.release`` like the web's button: the permission gate (operator
        on the lease's account), the audit and the lease events are the same."""
        leases = list(queryset.active().select_related("account"))
        allowed, refused = [], set()
        for account_id, account in {x.account_id: x.account for x in leases}.items():
            try:
                permissions.require(request.user, account_id, Role.OPERATOR)
                allowed.append(account_id)
            except (Http404, PermissionDenied):
                refused.add(account.name)
        if refused:
            self.message_user(
                request,
                _("You are not an operator of %(a)s: its numbers were not released.")
                % {"a": ", ".join(sorted(refused))},
                messages.ERROR,
            )
        chosen = [x for x in leases if x.account_id in allowed]
        if not chosen:
            return
        counts = services.release(request.user, chosen, EndReason.ADMIN)
        done = counts.get(LeaseState.RELEASED, 0) + counts.get(LeaseState.EXPIRED, 0)
        self.message_user(request, _("%(n)s released.") % {"n": done})
        if counts.get("retry"):
            self.message_user(
                request,
                _("%(n)s could not be released now; retried shortly.") % {"n": counts["retry"]},
                messages.WARNING,
            )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lease", "direction", "code", "status_text", "text"]
    list_filter = ["direction"]
    search_fields = ["=code", "=lease__phone"]
    readonly_fields = [
        "lease",
        "direction",
        "text",
        "digest",
        "status",
        "status_msg",
        "candidates",
        "code",
        "created_at",
    ]
    list_select_related = ["lease"]

    def has_add_permission(self, request):
        return False
