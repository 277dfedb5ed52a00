"""Typed requests for the views: what the middleware adds that Django's ``HttpRequest`` lacks.

``django_htmx``'s ``HtmxMiddleware`` sets ``request.htmx`` on every request, and Django's
``LoginRequiredMiddleware`` lets a view run only for a signed-in user unless the view is
marked ``login_not_required``. The views say so in their signatures (the pattern django-htmx
documents), so the type checker knows ``request.htmx`` and that ``request.user`` is a ``User``.
These classes are annotations only: no request is ever built from them.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """Any request that went through ``HtmxMiddleware``."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request to a view behind ``LoginRequiredMiddleware`` (every view not marked
    ``login_not_required``): the user is signed in."""

    user: User
