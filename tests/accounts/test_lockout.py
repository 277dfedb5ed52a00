"""The lockout per (username, address) pair, a higher per-address limit, the locked-out page
saying until when, and staff unlocking a user."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    client.force_login(admin)
    return client


def _login(client, username, password, address):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_the_lockout_is_per_username_and_address(client, personas, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit):
        r = _login(client, "member", "wrong", "203.0.113.5")
    assert r.status_code == 429
    assert _login(client, "member", "pw-member", "203.0.113.5").status_code == 429
    # the same address, another user: not locked
    assert _login(client, "owner", "pw-owner", "203.0.113.5").status_code == 302
    client.post(reverse("logout"))
    # the same user, another address: not locked
    assert _login(client, "member", "pw-member", "198.51.100.20").status_code == 302


def test_password_spraying_from_one_address_is_locked_at_the_higher_limit(
    client, personas, settings, make_user
):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_ADDRESS_FAILURE_LIMIT = 12
    names = [make_user(f"user{i}").username for i in range(12)]
    statuses = [_login(client, n, "Summer2026!", "203.0.113.9").status_code for n in names]
    # one try per username: no pair reaches 5, the address reaches 12 on the last one
    assert statuses[:-1] == [200] * 11 and statuses[-1] == 429
    assert _login(client, "member", "pw-member", "203.0.113.9").status_code == 429
    # a valid sign-in elsewhere does not clear the address's count
    assert _login(client, "owner", "pw-owner", "198.51.100.20").status_code == 302


def test_the_locked_out_page_says_until_when(client, personas, settings):
    settings.AXES_COOLOFF_TIME = 0.25  # 15 minutes
    before = timezone.localtime()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        r = _login(client, "member", "wrong", "203.0.113.5")
    body = r.content.decode()
    assert r.status_code == 429
    expected = [
        (before + timedelta(minutes=15, seconds=s)).strftime("%Y-%m-%d %H:%M") for s in (0, 60)
    ]
    assert any(f"until {e}" in body for e in expected), body


def test_staff_unlock_a_user(admin_client, personas, settings):
    from django.test import Client

    other = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(other, "member", "wrong", "203.0.113.5")
    assert _login(other, "member", "pw-member", "203.0.113.5").status_code == 429
    page = admin_client.post(
        "/admin/auth/user/",
        {"action": "unlock_sign_in", "_selected_action": [personas["member"].pk]},
        follow=True,
    )
    assert "1 user unlocked" in page.content.decode()
    assert _login(other, "member", "pw-member", "203.0.113.5").status_code == 302


def test_view_only_staff_cannot_unlock(client, personas, settings, make_user):
    from django.contrib.auth.models import Permission
    from django.test import Client

    staff = make_user("helpdesk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)
    other = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(other, "member", "wrong", "203.0.113.5")
    client.post(
        "/admin/auth/user/",
        {"action": "unlock_sign_in", "_selected_action": [personas["member"].pk]},
    )
    assert _login(other, "member", "pw-member", "203.0.113.5").status_code == 429
