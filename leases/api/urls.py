"""``/api/v1/…`` (token-authenticated, outside the console's login) and ``/api/docs/``."""

from __future__ import annotations

import functools
import inspect

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import render
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from .errors import not_allowed, not_found
from .views import api


@login_not_required
@require_GET
def docs(request):
    """The reference page: the schema rendered by the project's own script (no CDN)."""
    return render(request, "api/docs.html")


def _enveloped(response):
    """django-ninja answers a method a path lacks with a plain-text 405: the API's is JSON."""
    if response.status_code == 405 and not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return not_allowed(response["Allow"])
    return response


def _wrap(view):
    """``view`` with its 405 and 404 (django-ninja's root) in the error envelope, sync or async
    as it was."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def wrapped(request, *args, **kwargs):
            try:
                return _enveloped(await view(request, *args, **kwargs))
            except Http404:
                return not_found()
    else:

        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return _enveloped(view(request, *args, **kwargs))
            except Http404:
                return not_found()

    return wrapped


def _public(patterns):
    """The API authenticates by token, not by the console's session login."""
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            _public(pattern.url_patterns)
        else:
            pattern.callback = _wrap(pattern.callback)
            pattern.callback.login_required = False
    return patterns


@csrf_exempt
@login_not_required
def unknown(request, rest=""):
    """Any other path under /api/v1/: a 404 in the error envelope, not the console's page."""
    return not_found()


_patterns, _app, _namespace = api.urls
urlpatterns = [
    path("api/v1/", include((_public(_patterns), _app), namespace=_namespace)),
    re_path(r"^api/v1(?:/(?P<rest>.*))?$", unknown),
    path("api/docs/", docs, name="api-docs"),
]
