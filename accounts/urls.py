from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.audit, name="accounts-audit"),
    path("audit.csv", views.audit_csv, name="accounts-audit-csv"),
    path("audit/<int:pk>/raw/", views.audit_raw, name="accounts-audit-raw"),
]
