"""Sign in and out, and the lockout after repeated failures."""

from django.urls import reverse


def test_sign_in_and_out(client, personas):
    r = client.post(reverse("login"), {"username": "member", "password": "pw-member"})
    assert r.status_code == 302 and r["Location"] == reverse("leases-overview")
    assert client.get(reverse("leases-overview")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # signing out is a POST
    client.post(reverse("logout"))
    assert client.get(reverse("leases-overview")).status_code == 302


def test_five_failures_lock_the_account_out(client, personas, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        r = client.post(reverse("login"), {"username": "member", "password": "wrong"})
        assert r.status_code == 200
    r = client.post(reverse("login"), {"username": "member", "password": "wrong"})
    assert r.status_code == 429  # the fifth failure locks
    r = client.post(reverse("login"), {"username": "member", "password": "pw-member"})
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.content.decode()
