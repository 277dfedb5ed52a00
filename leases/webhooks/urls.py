from django.urls import path

from . import views

urlpatterns = [
    path("accounts/<int:pk>/webhooks/", views.webhooks_page, name="leases-webhooks"),
    path("webhooks/<int:pk>/toggle/", views.webhook_toggle, name="leases-webhook-toggle"),
    path("webhooks/<int:pk>/remove/", views.webhook_remove, name="leases-webhook-remove"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="leases-webhook-test"),
    path(
        "webhooks/deliveries/<int:pk>/redeliver/",
        views.webhook_redeliver,
        name="leases-webhook-redeliver",
    ),
]
