"""Forms of the console: they normalise input; bad input is a form error, never a 500."""

from __future__ import annotations

import re
import uuid
from typing import cast

from django import forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.bidi import visible
from accounts.forms import AccountFilter, AccountScopedForm, TokenFilterMixin
from accounts.models import DeveloperAccount

from .models import Item, LeaseState

CARRIERS = [
    ("", _("any carrier")),
    ("1", _("China Mobile")),
    ("2", _("China Unicom")),
    ("3", _("China Telecom")),
]


class ItemChoiceField(forms.ModelChoiceField):
    queryset: QuerySet[Item]  # never None: LeaseForm.__init__ sets it

    def label_from_instance(self, obj: Item) -> str:
        return visible(f"{obj.account.name} · {obj.item_id} {obj.name}")


class LeaseForm(forms.Form):
    item = ItemChoiceField(
        queryset=Item.objects.none(), label=_("Item"), empty_label=_("Choose an item")
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=10, initial=1)
    carrier = forms.ChoiceField(label=_("Carrier"), choices=CARRIERS, required=False)
    area_code = forms.CharField(
        label=_("Area code"),
        required=False,
        max_length=6,
        help_text=_("Digits, e.g. 0755; empty for any."),
    )
    international = forms.BooleanField(label=_("International number"), required=False)
    phone = forms.CharField(
        label=_("A specific number"),
        required=False,
        max_length=20,
        help_text=_("Empty for a random number."),
    )
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Retired items are gone from the form; expired and abnormal ones are listed, but
        # disabled with the upstream's reason (``item_options``) and refused by ``clean``.
        qs = Item.objects.filter(
            account__in=accounts if accounts is not None else DeveloperAccount.objects.none(),
            account__active=True,
            retired_at__isnull=True,
        ).select_related("account")
        self.item_field.queryset = qs.order_by("account__name", "item_id")
        # Price, budgets and quota follow the item and the quantity as they change.
        self.fields["quantity"].widget.attrs.update(
            {
                "hx-get": reverse("leases-item-info"),
                "hx-trigger": "input changed delay:300ms, change",
                "hx-target": "#item-info",
                "hx-swap": "outerHTML",
                "hx-include": "#lease-form [name=item], #lease-form [name=quantity]",
            }
        )
        if not self.is_bound:
            self.initial["key"] = uuid.uuid4().hex

    @property
    def item_field(self) -> ItemChoiceField:
        return cast(ItemChoiceField, self.fields["item"])

    def item_options(self) -> list[tuple[str, str, str]]:
        """``(value, label, why not)`` for the item select: ``why not`` is the upstream's
        reason an item cannot be leased now (empty when it can)."""
        field = self.item_field
        out = [("", str(field.empty_label), "")]
        for item in field.queryset:
            why = "" if item.usable else visible(item.msg or _("not available"))
            out.append((str(item.pk), field.label_from_instance(item), str(why)))
        return out

    @classmethod
    def again(cls, lease) -> dict:
        """Initial values that lease another number like ``lease`` (a new request key comes
        with every unbound form)."""
        params = lease.request.params if lease.request_id else {}
        return {
            "item": lease.item_id,
            "quantity": 1,
            "carrier": params.get("carrier", ""),
            "area_code": params.get("area_code", ""),
            "international": bool(params.get("international")),
        }

    def clean_area_code(self):
        value = self.cleaned_data["area_code"].strip()
        if value and not re.fullmatch(r"\d{2,6}", value):
            raise forms.ValidationError(_("An area code is 2 to 6 digits."))
        return value

    def clean_phone(self):
        value = re.sub(r"[\s-]", "", self.cleaned_data["phone"])
        if value and not re.fullmatch(r"\+?\d{5,20}", value):
            raise forms.ValidationError(_("A number is 5 to 20 digits, with an optional +."))
        return value

    def clean_key(self):
        value = self.cleaned_data["key"]
        if not re.fullmatch(r"[0-9a-f]{32}", value):
            raise forms.ValidationError(_("The form expired; please submit it again."))
        return value

    def clean(self):
        super().clean()
        data = self.cleaned_data
        item, quantity = data.get("item"), data.get("quantity")
        if item and quantity and quantity > item.max_per_request:
            self.add_error(
                "quantity",
                ngettext(
                    "This item allows %(n)s number per request.",
                    "This item allows %(n)s numbers per request.",
                    item.max_per_request,
                )
                % {"n": item.max_per_request},
            )
        if item and not item.usable:
            self.add_error("item", item.msg or _("This item is not available."))
        if data.get("phone") and quantity and quantity > 1:
            self.add_error("quantity", _("A specific number is leased alone."))
        return data


class SendForm(forms.Form):
    text = forms.CharField(
        label=_("SMS text"),
        max_length=500,
        # Kept as it is across the lease page's live updates: what is being typed stays.
        widget=forms.Textarea(attrs={"rows": 2, "hx-preserve": "true"}),
    )
    # One key per rendered form: a double submit sends once (``services.send_sms``).
    key = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages={"required": _("The form expired; please submit it again.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["key"] = uuid.uuid4().hex

    clean_key = LeaseForm.clean_key


class HistoryFilter(TokenFilterMixin, AccountFilter):
    field_order = ["since", "until", "account", "item", "member", "tag", "token"]
    item = forms.CharField(label=_("Item id"), required=False, max_length=32)
    member = forms.CharField(label=_("Member"), required=False, max_length=150)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=100)
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("all")), *LeaseState.choices]
    )
    q = forms.CharField(
        label=_("Search"), required=False, max_length=100, help_text=_("Number, code or SMS text")
    )


class AddItemForm(AccountScopedForm):
    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(),
        label=_("Account"),
        empty_label=_("Choose an account"),
    )
    item_id = forms.RegexField(
        regex=r"^\d{1,32}$",
        label=_("Item id"),
        max_length=32,
        error_messages={"invalid": _("An item id is digits only.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        only = list(self.accounts[:2])
        if len(only) == 1 and not self.is_bound:  # one account: nothing to choose
            self.initial["account"] = only[0].pk
