"""Self-service: members change their own password; managers set roles and budgets of the
members of the accounts they manage, in the console, through the one permission gate."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Membership, Role
from leases import services
from leases.errors import ServiceError


def test_it_changes_the_members_own_password(as_, client, personas):
    url = reverse("accounts-password")
    assert as_("member").get(url).status_code == 200
    bad = client.post(
        url,
        {"old_password": "wrong", "new_password1": "n3w-Secret!", "new_password2": "n3w-Secret!"},
    )
    assert bad.status_code == 200 and "incorrect" in bad.content.decode()
    r = client.post(
        url,
        {
            "old_password": "pw-member",
            "new_password1": "n3w-Secret!",
            "new_password2": "n3w-Secret!",
        },
        follow=True,
    )
    assert r.redirect_chain[-1][0] == reverse("accounts-password-done")
    assert "Your password was changed" in r.content.decode()
    assert client.get("/").status_code == 200  # still signed in (the session was updated)
    user = personas["member"]
    user.refresh_from_db()
    assert user.check_password("n3w-Secret!") and not user.check_password("pw-member")


def test_the_password_page_requires_login(client, db):
    r = client.get(reverse("accounts-password"))
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_a_manager_sees_the_members_of_an_account(as_, personas, account):
    url = reverse("accounts-members", args=[account.pk])
    body = as_("owner").get(url).content.decode()
    for name in ("owner", "member", "viewer"):
        assert f">{name}" in body
    assert "outsider" not in body
    assert as_("member").get(url).status_code == 403
    assert as_("outsider").get(url).status_code == 404
    assert (
        as_("owner").get(reverse("accounts-members", args=[1]).replace("/1/", "/x/")).status_code
        == 404
    )
    assert "Members, roles and budgets" in as_("owner").get("/").content.decode()
    assert "Members, roles and budgets" not in as_("member").get("/").content.decode()


def form(m, **values):
    data = {"role": m.role, "daily_budget": "", "monthly_budget": ""}
    data.update(values)
    return {f"m{m.pk}-{k}": v for k, v in data.items()}


def test_a_manager_sets_a_members_role_and_budgets(as_, personas, items, sim):
    m = Membership.objects.get(user=personas["member"])
    url = reverse("accounts-member-update", args=[m.pk])
    r = as_("owner").post(url, form(m, daily_budget="0.25", monthly_budget="10"), follow=True)
    assert "Saved member on Sandbox." in r.content.decode()
    m.refresh_from_db()
    assert m.daily_budget == Decimal("0.25") and m.monthly_budget == Decimal("10")
    # The budget is the one the lease checks.
    services.lease_numbers(personas["member"], items["1002"], key="a")  # 0.2
    with pytest.raises(ServiceError, match="daily budget"):
        services.lease_numbers(personas["member"], items["1002"], key="b")
    as_("owner").post(url, form(m, role=Role.VIEWER))
    m.refresh_from_db()
    assert m.role == Role.VIEWER and m.daily_budget is None
    assert "You may not lease numbers" in as_("member").get(reverse("leases-new")).content.decode()


def test_bad_input_is_a_form_error(as_, personas):
    m = Membership.objects.get(user=personas["member"])
    url = reverse("accounts-member-update", args=[m.pk])
    r = as_("owner").post(url, form(m, daily_budget="-1", role="king"))
    body = r.content.decode()
    assert r.status_code == 400 and "zero or more" in body and "Select a valid choice" in body
    r = as_("owner").post(url, form(m, monthly_budget="lots"))
    assert r.status_code == 400
    m.refresh_from_db()
    assert m.daily_budget is None and m.role == Role.OPERATOR


def test_the_last_manager_keeps_the_role(as_, personas):
    mine = Membership.objects.get(user=personas["owner"])
    url = reverse("accounts-member-update", args=[mine.pk])
    r = as_("owner").post(url, form(mine, role=Role.OPERATOR))
    assert r.status_code == 400 and "last manager" in r.content.decode()
    other = Membership.objects.get(user=personas["member"])
    as_("owner").post(
        reverse("accounts-member-update", args=[other.pk]), form(other, role="manager")
    )
    assert as_("owner").post(url, form(mine, role=Role.OPERATOR)).status_code == 302
    mine.refresh_from_db()
    assert mine.role == Role.OPERATOR


def test_only_the_accounts_managers_may_change_members(as_, personas):
    m = Membership.objects.get(user=personas["viewer"])
    url = reverse("accounts-member-update", args=[m.pk])
    assert as_("member").post(url, form(m, role="manager")).status_code == 403
    assert as_("outsider").post(url, form(m, role="manager")).status_code == 404
    assert as_("owner").get(url).status_code == 405
    assert (
        as_("owner")
        .post(reverse("accounts-member-update", args=[1]).replace("/1/", "/1e3/"))
        .status_code
        == 404
    )
    m.refresh_from_db()
    assert m.role == Role.VIEWER


def add_form(**values):
    data = {"username": "", "role": "operator", "daily_budget": "", "monthly_budget": ""}
    data.update(values)
    return {f"add-{k}": v for k, v in data.items()}


def test_a_manager_adds_an_existing_console_user(as_, personas, account, items, sim):
    url = reverse("accounts-members", args=[account.pk])
    outsider = personas["outsider"]
    r = as_("owner").post(url, add_form(username="outsider", role="operator", daily_budget="1"))
    assert r.status_code == 302 and r["Location"] == url
    m = Membership.objects.get(user=outsider, account=account)
    assert m.role == Role.OPERATOR and m.daily_budget == Decimal("1")
    assert "Added outsider to Sandbox" in as_("owner").get(url).content.decode()
    services.lease_numbers(outsider, items["1003"], key="added")  # now they may lease


def test_adding_a_member_refuses_bad_input_and_others(as_, personas, account, django_user_model):
    url = reverse("accounts-members", args=[account.pk])
    django_user_model.objects.create_user("gone", password="x", is_active=False)
    before = Membership.objects.count()
    for values, says in (
        ({"username": "nobody"}, "No active console user is named nobody"),
        ({"username": "gone"}, "No active console user is named gone"),
        ({"username": "member"}, "member is already a member of Sandbox"),
        ({"username": "outsider", "role": "king"}, "Select a valid choice"),
        ({"username": "outsider", "daily_budget": "-2"}, "zero or more"),
        ({"username": ""}, "This field is required"),
    ):
        r = as_("owner").post(url, add_form(**values))
        assert r.status_code == 400 and says in r.content.decode(), values
    for who, status in (("member", 403), ("viewer", 403), ("outsider", 404)):
        assert as_(who).post(url, add_form(username="outsider")).status_code == status
    assert Membership.objects.count() == before


def test_a_manager_removes_a_member_but_never_the_last_manager(as_, personas, account):
    viewer = Membership.objects.get(user=personas["viewer"])
    remove = reverse("accounts-member-remove", args=[viewer.pk])
    assert as_("member").post(remove).status_code == 403
    assert as_("outsider").post(remove).status_code == 404
    assert as_("owner").get(remove).status_code == 405
    r = as_("owner").post(remove)
    assert r.status_code == 302 and not Membership.objects.filter(pk=viewer.pk).exists()
    assert as_("viewer").get(reverse("accounts-audit")).status_code == 200  # sees nothing now
    mine = Membership.objects.get(user=personas["owner"])
    r = as_("owner").post(reverse("accounts-member-remove", args=[mine.pk]), follow=True)
    assert "last manager cannot be removed" in r.content.decode()
    assert Membership.objects.filter(pk=mine.pk).exists()
    bad = reverse("accounts-member-remove", args=[1]).replace("/1/", "/x/")
    assert as_("owner").post(bad).status_code == 404
