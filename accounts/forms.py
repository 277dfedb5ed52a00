"""Filters of the audit log."""

from __future__ import annotations

import uuid
from datetime import date
from typing import cast

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from .bidi import visible
from .models import ENDPOINT_LABELS, DeveloperAccount, Membership, Outcome, Role

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

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error(
                "until",
                _("The To date (%(to)s) is before the From date (%(from)s): no day is in between.")
                % {"to": until, "from": since},
            )
        return cleaned

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
        self.accounts: QuerySet[DeveloperAccount] = accounts if accounts is not None else none
        cast(forms.ModelChoiceField, self.fields["account"]).queryset = self.accounts


class AccountFilter(DateRangeMixin, AccountScopedForm):
    """The filters every list shares: an account of the user's, and a date range."""

    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(),
        required=False,
        label=_("Account"),
        empty_label=_("all"),
    )


class TokenFilterMixin(forms.Form):
    """A filter by one API token: "member · name", a prefix (zk_…) or a name that only one
    member's token bears, among the tokens of the members of the user's accounts."""

    token = forms.CharField(
        label=_("API token"),
        required=False,
        max_length=240,
        help_text=_("A name, member · name, or a prefix (zk_…)"),
    )
    accounts: QuerySet[DeveloperAccount]

    def clean_token(self):
        from .models import ApiToken
        from .tokens import among

        which = self.cleaned_data["token"].strip()
        if not which:
            return None
        members = Membership.objects.filter(account__in=self.accounts).values("user")
        found = among(ApiToken.objects.filter(user__in=members), which)
        if not found:
            raise forms.ValidationError(_("No API token %(t)s.") % {"t": visible(which)})
        if len(found) > 1:
            names = ", ".join(sorted(visible(f"{t.user.username} · {t.name}") for t in found))
            raise forms.ValidationError(
                _("Several tokens fit %(t)s: %(names)s. Write member · name, or the prefix.")
                % {"t": visible(which), "names": names}
            )
        return found[0]


class AuditFilter(TokenFilterMixin, AccountFilter):
    field_order = ["since", "until", "account", "endpoint", "outcome", "actor", "token"]
    endpoint = forms.ChoiceField(
        label=_("Endpoint"), required=False, choices=[("", _("all")), *ENDPOINT_LABELS.items()]
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("all")), *Outcome.choices]
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    phone = forms.CharField(label=_("Number"), required=False, max_length=32)
    # The calls of one lease (its page links here with both).
    lease = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    request = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class MembershipForm(forms.ModelForm):
    """A manager sets a member's role and budgets (empty: no limit). The account keeps at
    least one manager: the last one cannot step down here."""

    class Meta:
        model = Membership
        fields = ["role", "daily_budget", "monthly_budget"]
        widgets = {
            "daily_budget": forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
            "monthly_budget": forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("daily_budget", "monthly_budget"):  # 2, not 2.0000
            value = self.initial.get(name)
            if value is not None:
                text = f"{value:f}"
                self.initial[name] = text.rstrip("0").rstrip(".") if "." in text else text

    def clean_daily_budget(self):
        return self._not_negative("daily_budget")

    def clean_monthly_budget(self):
        return self._not_negative("monthly_budget")

    def _not_negative(self, name):
        value = self.cleaned_data[name]
        if value is not None and value < 0:
            raise forms.ValidationError(_("A budget is zero or more; empty for no limit."))
        return value

    def clean_role(self):
        role = self.cleaned_data["role"]
        m = self.instance
        if m.role == Role.MANAGER and role != Role.MANAGER:
            others = Membership.objects.filter(account_id=m.account_id, role=Role.MANAGER)
            if not others.exclude(pk=m.pk).exists():
                raise forms.ValidationError(_("The account's last manager keeps that role."))
        return role


class AddMemberForm(MembershipForm):
    """A manager adds an existing console user to the account (people are created by an
    admin; a manager decides who of them uses this account, and how)."""

    username = forms.CharField(label=_("Username"), max_length=150)

    class Meta(MembershipForm.Meta):
        fields = ["username", "role", "daily_budget", "monthly_budget"]

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.instance.account = account
        self.fields["role"].initial = Role.OPERATOR

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                _("No active console user is named %(u)s; console users are created in the Admin.")
                % {"u": name}
            )
        if Membership.objects.filter(user=user, account=self.account).exists():
            raise forms.ValidationError(
                _("%(u)s is already a member of %(a)s.") % {"u": name, "a": self.account.name}
            )
        self.instance.user = user
        return name

    def clean_role(self):
        return self.cleaned_data["role"]  # a new member: no last manager to keep


class TokenForm(forms.Form):
    """A new API token: a name, an optional expiry, optionally fewer accounts, read-only."""

    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("e.g. nightly-ci"))
    # One token per submission: a reload that sends the form again creates nothing.
    key = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
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
        cast(forms.ModelMultipleChoiceField, self.fields["accounts"]).queryset = (
            accounts if accounts is not None else DeveloperAccount.objects.none()
        )
        if not self.is_bound:
            self.initial["key"] = uuid.uuid4().hex

    def clean_name(self):
        value = self.cleaned_data["name"].strip()
        if not value:
            raise forms.ValidationError(_("A name is required."))
        return value

    @staticmethod
    def name_taken(name: str) -> str:
        return _(
            "You already have a token named %(n)s (revoked tokens keep their names): "
            "choose another name, e.g. %(n)s-2."
        ) % {"n": visible(name)}

    def clean_expires(self):
        from django.utils import timezone

        value = self.cleaned_data["expires"]
        if value and value <= timezone.localdate():
            raise forms.ValidationError(_("The expiry date must be in the future."))
        return value
