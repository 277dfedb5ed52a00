from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from . import ops

# The admin is the console's back room: its name, its title and a way back to the console.
admin.site.site_header = _("Zhima Console administration")
admin.site.site_title = _("Zhima Console")
admin.site.index_title = _("Administration")
admin.site.site_url = "/"

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("operations/", ops.status, name="ops-status"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("", include("leases.api.urls")),
    path("", include("accounts.urls")),
    path("", include("leases.urls")),
]
