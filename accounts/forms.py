"""Filters of the audit log."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import DeveloperAccount, Outcome


class DateRangeMixin(forms.Form):
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class AccountScopedForm(forms.Form):
    """A form whose ``account`` choices are the accounts the view passes (the user's own)."""

    def __init__(self, *args, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Not ``accounts or …``: a queryset's truth value would fetch every row.
        none = DeveloperAccount.objects.none()
        self.fields["account"].queryset = accounts if accounts is not None else none


class AccountFilter(DateRangeMixin, AccountScopedForm):
    """The filters every list shares: an account of the user's, and a date range."""

    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(),
        required=False,
        label=_("Account"),
        empty_label=_("all"),
    )


ENDPOINTS = [
    "verify",
    "details",
    "get_numbers",
    "get_sms",
    "send_sms",
    "send_status",
    "release",
    "release_all",
    "block",
]


class AuditFilter(AccountFilter):
    endpoint = forms.ChoiceField(
        label=_("Endpoint"), required=False, choices=[("", _("all"))] + [(e, e) for e in ENDPOINTS]
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("all")), *Outcome.choices]
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    token = forms.CharField(label=_("API token"), required=False, max_length=80)
    phone = forms.CharField(label=_("Number"), required=False, max_length=32)


class TokenForm(forms.Form):
    """A new API token: a name, an optional expiry, optionally fewer accounts, read-only."""

    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("e.g. nightly-ci"))
    expires = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: never."),
    )
    accounts = forms.ModelMultipleChoiceField(
        queryset=DeveloperAccount.objects.none(),
        required=False,
        label=_("Only these accounts"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every account you are a member of."),
    )
    read_only = forms.BooleanField(
        label=_("Read-only"), required=False, help_text=_("May read leases but not lease or act.")
    )

    def __init__(self, *args, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accounts"].queryset = (
            accounts if accounts is not None else DeveloperAccount.objects.none()
        )

    def clean_name(self):
        value = self.cleaned_data["name"].strip()
        if not value:
            raise forms.ValidationError(_("A name is required."))
        return value

    def clean_expires(self):
        from django.utils import timezone

        value = self.cleaned_data["expires"]
        if value and value <= timezone.localdate():
            raise forms.ValidationError(_("The expiry date must be in the future."))
        return value
