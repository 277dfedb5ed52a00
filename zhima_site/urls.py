from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language

from . import ops

# The admin is the console's back room: its name, its title and a way back to the console.
admin.site.site_header = _("Zhima Console administration")
admin.site.site_title = _("Zhima Console")
admin.site.index_title = _("Administration")
admin.site.site_url = "/"


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages that name no icon (the admin's) make the browser ask for /favicon.ico: the
    console's icon, the one the other pages name."""
    icon = settings.BASE_DIR / "static" / "img" / "icon.svg"
    response = HttpResponse(icon.read_bytes(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("operations/", ops.status, name="ops-status"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Open to the signed out too: the sign-in page has the language selector.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("", include("leases.api.urls")),
    path("", include("accounts.urls")),
    path("", include("leases.urls")),
]
