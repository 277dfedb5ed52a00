from django.urls import path

from . import reports, views

urlpatterns = [
    path("", views.overview, name="leases-overview"),
    path("lease/new/", views.new, name="leases-new"),
    path("lease/item-info/", views.item_info, name="leases-item-info"),
    path("leases/<str:pk>/", views.detail, name="leases-detail"),
    path("leases/<str:pk>/release/", views.release, name="leases-release"),
    path("leases/<str:pk>/blacklist/", views.blacklist, name="leases-blacklist"),
    path("leases/<str:pk>/send/", views.send, name="leases-send"),
    path("leases/<str:pk>/send-status/", views.send_status, name="leases-send-status"),
    path("leases/<str:pk>/keep-waiting/", views.keep_waiting, name="leases-keep-waiting"),
    path("active/", views.active, name="leases-active"),
    path("active/release/", views.release_selected, name="leases-release-selected"),
    path("accounts/<str:pk>/release-all/", views.release_all, name="leases-release-all"),
    path("history/", reports.history, name="leases-history"),
    path("history.csv", reports.history_csv, name="leases-history-csv"),
    path("spend/", reports.spend, name="leases-spend"),
    path("items/", reports.items, name="leases-items"),
    path("items/add/", reports.item_add, name="leases-item-add"),
    path("items/<str:pk>/refresh/", reports.item_refresh, name="leases-item-refresh"),
]

from . import webhook_views  # noqa: E402

urlpatterns += [
    path("accounts/<str:pk>/webhooks/", webhook_views.webhooks_page, name="leases-webhooks"),
    path("webhooks/<str:pk>/toggle/", webhook_views.webhook_toggle, name="leases-webhook-toggle"),
    path("webhooks/<str:pk>/remove/", webhook_views.webhook_remove, name="leases-webhook-remove"),
    path(
        "webhooks/deliveries/<str:pk>/redeliver/",
        webhook_views.webhook_redeliver,
        name="leases-webhook-redeliver",
    ),
]
