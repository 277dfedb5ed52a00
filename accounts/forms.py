"""Filters of the audit log."""

from __future__ import annotations

from datetime import date
from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ENDPOINT_LABELS, DeveloperAccount, Outcome

# Dates a filter may name: a day at the calendar's ends, turned into the time range of that
# day in the local time zone, would leave the range of datetime (year 1 to 9999).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


class FilterDateField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "date"})

    def validate(self, value):
        super().validate(value)
        if value and not FIRST_DAY <= value <= LAST_DAY:
            raise forms.ValidationError(
                _("Enter a date between %(a)s and %(b)s.") % {"a": FIRST_DAY, "b": LAST_DAY}
            )


class DateRangeMixin(forms.Form):
    since = FilterDateField(label=_("From"), required=False)
    until = FilterDateField(label=_("To"), required=False)

    def errors_text(self) -> str:
        """The errors in one plain line (a CSV export answers 400 with it)."""
        errors = self.errors.items()
        return "; ".join(f"{name}: {' '.join(map(str, errs))}" for name, errs in errors)


class AccountScopedForm(forms.Form):
    """A form whose ``account`` choices are the accounts the view passes (the user's own)."""

    def __init__(self, *args, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Not ``accounts or …``: a queryset's truth value would fetch every row.
        none = DeveloperAccount.objects.none()
        field = cast(forms.ModelChoiceField, self.fields["account"])
        field.queryset = accounts if accounts is not None else none


class AccountFilter(DateRangeMixin, AccountScopedForm):
    """The filters every list shares: an account of the user's, and a date range."""

    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(),
        required=False,
        label=_("Account"),
        empty_label=_("all"),
    )


class AuditFilter(AccountFilter):
    endpoint = forms.ChoiceField(
        label=_("Endpoint"), required=False, choices=[("", _("all")), *ENDPOINT_LABELS.items()]
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("all")), *Outcome.choices]
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    phone = forms.CharField(label=_("Number"), required=False, max_length=32)
