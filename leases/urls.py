from django.urls import include, path

from . import board, history_views, item_views, views

urlpatterns = [
    path("", views.overview, name="leases-overview"),
    path("lease/new/", views.new, name="leases-new"),
    path("lease/item-info/", views.item_info, name="leases-item-info"),
    path("leases/<int:pk>/", views.detail, name="leases-detail"),
    path("leases/<int:pk>/release/", views.release, name="leases-release"),
    path("leases/<int:pk>/blacklist/", views.blacklist, name="leases-blacklist"),
    path("leases/<int:pk>/send/", views.send, name="leases-send"),
    path("leases/<int:pk>/send-status/", views.send_status, name="leases-send-status"),
    path("leases/<int:pk>/keep-waiting/", views.keep_waiting, name="leases-keep-waiting"),
    path("leases/<int:pk>/dismiss/", board.dismiss, name="leases-dismiss"),
    path("requests/<int:pk>/", board.board, name="leases-board"),
    path("requests/<int:pk>/release/", board.board_release, name="leases-board-release"),
    path("active/", views.active, name="leases-active"),
    path("active/release/", views.release_selected, name="leases-release-selected"),
    path("accounts/<int:pk>/release-all/", views.release_all, name="leases-release-all"),
    path("history/", history_views.history, name="leases-history"),
    path("history.csv", history_views.history_csv, name="leases-history-csv"),
    path("spend/", history_views.spend, name="leases-spend"),
    path("items/", item_views.items, name="leases-items"),
    path("items/add/", item_views.item_add, name="leases-item-add"),
    path("items/<int:pk>/refresh/", item_views.item_refresh, name="leases-item-refresh"),
    path("items/<int:pk>/retire/", item_views.item_retire, name="leases-item-retire"),
    path("", include("leases.webhooks.urls")),
]
