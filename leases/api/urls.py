"""``/api/v1/…`` (token-authenticated, outside the console's login) and ``/api/docs/``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_GET

from .views import api


@login_not_required
@require_GET
def docs(request):
    """The reference page: the schema rendered by the project's own script (no CDN)."""
    return render(request, "api/docs.html")


def _public(patterns):
    """The API authenticates by token, not by the console's session login."""
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            _public(pattern.url_patterns)
        else:
            pattern.callback.login_required = False
    return patterns


_patterns, _app, _namespace = api.urls
urlpatterns = [
    path("api/v1/", include((_public(_patterns), _app), namespace=_namespace)),
    path("api/docs/", docs, name="api-docs"),
]
