from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.audit, name="accounts-audit"),
    path("audit.csv", views.audit_csv, name="accounts-audit-csv"),
    path("audit/<str:pk>/raw/", views.audit_raw, name="accounts-audit-raw"),
    path("tokens/", views.api_tokens, name="accounts-tokens"),
    path("tokens/<str:pk>/revoke/", views.api_token_revoke, name="accounts-token-revoke"),
]
