"""What a token reaches: only its accounts when it names some (even once they are all gone),
and the same 404 for a lease of another account, a missing id and an id past 64 bits."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, DeveloperAccount, Membership, Role

pytestmark = pytest.mark.usefixtures("transactional_db")


def lease(api, item="1001", key="k1", **body):
    r = api.post("/leases", {"item": item, "tag": "scope", **body}, key=key)
    assert r.status_code == 201, r.content
    return r.json()["leases"][0]


def test_a_token_whose_every_account_is_deleted_reaches_nothing(personas, items, api_for, sim):
    owner = personas["owner"]
    gone = DeveloperAccount(name="Gone", upstream_account="gone", base_url=sim.base_url)
    gone.set_pkey("gone-pkey")
    gone.save()
    Membership.objects.create(user=owner, account=gone, role=Role.MANAGER)
    one = lease(api_for(owner), account="Sandbox")  # in Sandbox, where the owner is a manager too
    only_gone = api_for(owner, name="only-gone", accounts=[gone])
    assert only_gone.get(f"/leases/{one['id']}").status_code == 404

    gone.delete()  # an administrator deletes the token's only account
    assert ApiToken.objects.get(name="only-gone").accounts.count() == 0
    assert only_gone.get("/items").json() == []
    assert only_gone.get("/leases").json() == {"leases": []}
    assert only_gone.get(f"/leases/{one['id']}").status_code == 404
    assert only_gone.get(f"/leases/{one['id']}/code").status_code == 404
    assert only_gone.post(f"/leases/{one['id']}/release").status_code == 404
    r = only_gone.post("/leases", {"item": "1001", "account": "Sandbox"}, key="x")
    assert r.status_code == 404
    r = only_gone.post("/leases", {"item": "1001"}, key="y")
    assert r.status_code in (400, 404)
    assert sim.stats()["requests"]["get_numbers"] == 1
    # A token that never named an account still reaches every account of the member.
    assert api_for(owner, name="all").get(f"/leases/{one['id']}").status_code == 200
    # The tokens page says so.
    page = Client()
    page.force_login(owner)
    assert "none left (deleted)" in page.get(reverse("accounts-tokens")).text


def test_a_lease_elsewhere_a_missing_id_and_a_huge_id_are_the_same_404(personas, items, api_for):
    one = lease(api_for(personas["member"]))
    outsider = api_for(personas["outsider"])
    missing = one["id"] + 1000
    for path in ("/leases/{}", "/leases/{}/code", "/leases/{}/send-status"):
        answers = [outsider.get(path.format(i)) for i in (one["id"], missing, 2**64 + 1)]
        assert [r.status_code for r in answers] == [404] * 3, path
        assert len({r.content for r in answers}) == 1, [r.content for r in answers]
    for path in ("/leases/{}/release", "/leases/{}/blacklist", "/leases/{}/keep-waiting"):
        answers = [outsider.post(path.format(i)) for i in (one["id"], missing, 2**64 + 1)]
        assert [r.status_code for r in answers] == [404] * 3, path
        assert len({r.content for r in answers}) == 1, [r.content for r in answers]


def test_the_migration_keeps_the_restriction_of_existing_tokens(personas):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("accounts", "0008_api_token")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Token = apps.get_model("accounts", "ApiToken")
    owner_id, other_id = personas["owner"].pk, personas["other"].pk
    narrow = Token.objects.create(user_id=owner_id, name="narrow", digest="a" * 64, prefix="zk_a")
    narrow.accounts.set([other_id])
    Token.objects.create(user_id=owner_id, name="wide", digest="b" * 64, prefix="zk_b")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("accounts"))
    limited = dict(ApiToken.objects.values_list("name", "limited"))
    assert limited == {"narrow": True, "wide": False}
