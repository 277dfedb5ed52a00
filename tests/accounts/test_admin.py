"""The admin: the pkey is write-only, verify now, and the audit log is read-only."""

import pytest

from accounts.models import ApiCall, DeveloperAccount


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    client.force_login(admin)
    return client


def test_the_pkey_field_never_renders_its_value(admin_client, account):
    page = admin_client.get(f"/admin/accounts/developeraccount/{account.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="pkey"' in body
    assert "demo-pkey" not in body and account.pkey_encrypted not in body


def test_a_new_account_needs_a_pkey_and_stores_it_encrypted(admin_client):
    form = {
        "name": "Team",
        "upstream_account": "team",
        "base_url": "",
        "active": "on",
        "low_quota_threshold": "10",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    page = admin_client.post("/admin/accounts/developeraccount/add/", form)
    assert page.status_code == 200 and "needs its pkey" in page.content.decode()
    page = admin_client.post("/admin/accounts/developeraccount/add/", {**form, "pkey": "s3cret"})
    assert page.status_code == 302
    acc = DeveloperAccount.objects.get(name="Team")
    assert acc.get_pkey() == "s3cret" and "s3cret" not in acc.pkey_encrypted


def test_verify_now_shows_the_quota(admin_client, account, sim):
    page = admin_client.post(
        "/admin/accounts/developeraccount/",
        {"action": "verify_now", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "verified, quota 1000" in page.content.decode()
    assert ApiCall.objects.get().actor == "root"


def test_verify_now_shows_the_upstreams_refusal(admin_client, account, sim):
    sim.state.accounts["demo"].pkey = "rotated-upstream"
    page = admin_client.post(
        "/admin/accounts/developeraccount/",
        {"action": "verify_now", "_selected_action": [account.pk]},
        follow=True,
    ).content.decode()
    assert "开发者账号或密钥错误" in page and "verified, quota" not in page
    assert account.alerts.get(kind="key_invalid").active


def test_the_audit_log_cannot_be_added_changed_or_deleted(admin_client, account, sim):
    from accounts.registry import client_for

    client_for(account).verify()
    call = ApiCall.objects.get()
    assert admin_client.get("/admin/accounts/apicall/").status_code == 200
    assert admin_client.get("/admin/accounts/apicall/add/").status_code == 403
    page = admin_client.get(f"/admin/accounts/apicall/{call.pk}/change/")
    assert page.status_code == 200 and 'type="submit"' not in page.content.decode().split(
        "<form", 2
    )[-1].split("</form>")[0].replace('type="submit" value="Search"', "")
    assert admin_client.post(f"/admin/accounts/apicall/{call.pk}/delete/").status_code == 403
    with pytest.raises(TypeError):
        call.save()
    with pytest.raises(TypeError):
        ApiCall.objects.all().delete()
    with pytest.raises(TypeError):
        ApiCall.objects.update(msg="x")
    assert admin_client.get("/admin/accounts/apicall/?q=13800000000").status_code == 200


def test_the_lease_admin_releases_selected_numbers(
    admin_client, django_user_model, personas, items, sim
):
    from accounts.models import Membership, Role
    from leases import services
    from leases.models import Lease

    # The admin's release goes through the permission gate: the staff user operates the account.
    root = django_user_model.objects.get(username="root")
    Membership.objects.create(user=root, account=items["1002"].account, role=Role.OPERATOR)
    req = services.lease_numbers(personas["member"], items["1002"], key="a" * 32, quantity=2)
    ids = list(Lease.objects.filter(request=req).values_list("pk", flat=True))
    page = admin_client.post(
        "/admin/leases/lease/", {"action": "release", "_selected_action": ids}, follow=True
    )
    assert "2 released." in page.content.decode()
    assert set(Lease.objects.values_list("state", flat=True)) == {"released"}
    assert sim.stats()["requests"]["release"] == 1  # grouped per item
    assert admin_client.get("/admin/leases/item/").status_code == 200
    assert admin_client.get(f"/admin/leases/lease/{ids[0]}/change/").status_code == 200


def test_the_admins_app_headers_are_translated(admin_client):
    from django.urls import reverse

    admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    body = admin_client.get(reverse("admin:index")).content.decode()
    assert "开发者账号" in body and "号码租用" in body
    assert "Developer accounts" not in body and ">Leases<" not in body


def test_the_favicon_the_admin_pages_ask_for_is_there(db):
    from django.conf import settings
    from django.test import Client

    icon = Client().get("/favicon.ico")  # signed out, as on the admin's sign-in page
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert icon.content == (settings.BASE_DIR / "static/img/icon.svg").read_bytes()
