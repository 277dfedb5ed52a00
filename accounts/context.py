"""Template context: what the navigation may offer the signed-in user."""

from . import permissions


def nav(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_operate():  # evaluated only where a template asks
        return permissions.manages_any(user)

    return {"can_operate": can_operate}
