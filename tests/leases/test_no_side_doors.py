"""The admin's release goes through the services' gate; one idea of "accounts this user
manages" for the navigation and the operations page."""

import pytest
from django.test import RequestFactory

from accounts import permissions
from accounts.context import nav
from accounts.models import ApiCall, Membership, Role
from leases import services
from leases.models import Lease, LeaseEvent, LeaseState


@pytest.fixture
def root(django_user_model, client):
    user = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    client.force_login(user)
    return user


def _release_in_admin(client, lease):
    return client.post(
        "/admin/leases/lease/",
        {"action": "release", "_selected_action": [lease.pk]},
        follow=True,
    )


def test_the_admin_release_is_the_services_release(client, root, personas, items, sim):
    Membership.objects.create(user=root, account=items["1002"].account, role=Role.OPERATOR)
    req = services.lease_numbers(personas["member"], items["1002"], key="a" * 32)
    lease = Lease.objects.get(request=req)
    page = _release_in_admin(client, lease)
    assert "1 released." in page.content.decode()
    lease.refresh_from_db()
    assert lease.state == LeaseState.RELEASED and "in the admin" in lease.end_text
    assert LeaseEvent.objects.filter(lease=lease, kind="released", actor="root").exists()
    assert ApiCall.objects.get(endpoint="release").actor == "root"
    assert sim.leases() == []


def test_the_admin_release_refuses_an_account_the_user_does_not_operate(
    client, root, personas, items, sim
):
    Membership.objects.create(user=root, account=items["1002"].account, role=Role.VIEWER)
    req = services.lease_numbers(personas["member"], items["1002"], key="b" * 32)
    lease = Lease.objects.get(request=req)
    page = _release_in_admin(client, lease)
    assert page.status_code == 200
    assert "not an operator of Sandbox" in page.content.decode()
    lease.refresh_from_db()
    assert lease.state == LeaseState.WAITING
    assert "release" not in sim.stats()["requests"] and len(sim.leases()) == 1


def test_the_nav_and_the_operations_page_agree_on_who_manages(
    client, personas, make_user, django_user_model
):
    staff = make_user("staff", is_staff=True)
    people = {**{k: personas[k] for k in ("owner", "member", "viewer", "outsider")}}
    people["staff"] = staff
    rf = RequestFactory()
    for name, user in people.items():
        request = rf.get("/")
        request.user = user
        offered = nav(request)["can_operate"]()
        client.force_login(user)
        allowed = client.get("/operations/").status_code == 200
        assert offered == allowed == permissions.manages_any(user), name
    assert set(permissions.managed_accounts(personas["owner"])) == {
        personas["owner"].memberships.get().account
    }
    assert set(permissions.managed_accounts(personas["member"])) == set()
    assert set(permissions.managed_accounts(staff)) == {
        personas["other"],
        personas["owner"].memberships.get().account,
    }
