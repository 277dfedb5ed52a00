from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

urlpatterns = [
    path("audit/", views.audit, name="accounts-audit"),
    path("audit.csv", views.audit_csv, name="accounts-audit-csv"),
    path("audit/<int:pk>/raw/", views.audit_raw, name="accounts-audit-raw"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("accounts-password-done"),
        ),
        name="accounts-password",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="accounts-password-done",
    ),
    path("accounts/<int:pk>/quota/refresh/", views.quota_refresh, name="accounts-quota-refresh"),
    path("accounts/<int:pk>/members/", views.members, name="accounts-members"),
    path("members/<int:pk>/", views.member_update, name="accounts-member-update"),
    path("members/<int:pk>/remove/", views.member_remove, name="accounts-member-remove"),
    path("tokens/", views.api_tokens, name="accounts-tokens"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke, name="accounts-token-revoke"),
]
