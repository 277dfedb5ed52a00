"""Template context: what the navigation may offer the signed-in user."""

from .models import Membership, Role


def nav(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_operate():  # evaluated only where a template asks
        return user.is_staff or Membership.objects.filter(user=user, role=Role.MANAGER).exists()

    return {"can_operate": can_operate}
