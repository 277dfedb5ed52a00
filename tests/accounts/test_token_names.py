"""A token's name means one token of its member: creating a second of that name is refused,
revoking names one token (by name or by prefix), and the audit actor and the filters by
token take in exactly that one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts import tokens
from accounts.models import ApiCall, ApiToken
from leases import services
from leases.models import Lease


def command(*args) -> str:
    out = StringIO()
    call_command("api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_second_token_of_the_same_name_is_refused_and_the_first_keeps_working(personas):
    first = command("create", "member", "--name", "ci").strip().splitlines()[-1]
    with pytest.raises(CommandError, match="already has a token named 'ci'"):
        command("create", "member", "--name", "ci")
    with pytest.raises(tokens.NameTaken):
        tokens.issue(personas["member"], " ci ")
    assert ApiToken.objects.filter(user=personas["member"]).count() == 1
    assert tokens.authenticate(first) == personas["member"]
    # Another member may use the name.
    tokens.issue(personas["owner"], "ci")


def test_revoked_tokens_keep_their_name(personas):
    command("create", "member", "--name", "ci")
    command("revoke", "member", "--name", "ci")
    with pytest.raises(CommandError, match="already has a token named"):
        command("create", "member", "--name", "ci")


def test_the_rotation_revokes_the_old_token_only(personas):
    old = command("create", "member", "--name", "ci").splitlines()[-1]
    new = command("create", "member", "--name", "ci-2").splitlines()[-1]
    out = command("revoke", "member", "--name", "ci")
    assert "Revoked token 'ci'" in out and "token(s)" not in out
    assert tokens.authenticate(old) is None
    assert tokens.authenticate(new) == personas["member"]
    with pytest.raises(CommandError, match="already revoked"):
        command("revoke", "member", "--name", "ci")


def test_revoke_by_prefix_revokes_that_token(personas):
    one, raw_one = tokens.issue(personas["member"], "one")
    _two, raw_two = tokens.issue(personas["member"], "two")
    out = command("revoke", "member", "--prefix", one.prefix + "…")
    assert f"({one.prefix}…)" in out
    assert tokens.authenticate(raw_one) is None
    assert tokens.authenticate(raw_two) == personas["member"]
    with pytest.raises(CommandError, match="No token"):
        command("revoke", "member", "--prefix", "zk_nothing")
    with pytest.raises(CommandError):  # one of --name and --prefix, not both
        command("revoke", "member", "--name", "two", "--prefix", "zk_")


def test_the_tokens_page_refuses_a_taken_name(client, personas):
    tokens.issue(personas["member"], "ci")
    client.force_login(personas["member"])
    page = client.get("/tokens/").content.decode()
    key = page.split('name="key" value="')[1].split('"')[0]
    r = client.post("/tokens/", {"name": "ci", "key": key})
    assert r.status_code == 200
    assert "You already have a token named ci" in r.content.decode()
    assert ApiToken.objects.filter(user=personas["member"]).count() == 1
    # The same form with another name goes through (the refused one did not use up its key).
    r = client.post("/tokens/", {"name": "ci-2", "key": key})
    assert 'id="new-token"' in r.content.decode()


@pytest.fixture
def two_cis(personas, items):
    """The owner's and the member's token "ci", each used to lease a number."""
    made = {}
    for n, who in enumerate(("owner", "member")):
        token, raw = tokens.issue(personas[who], "ci")
        user = tokens.authenticate(raw)
        req = services.lease_numbers(user, items["1004"], key=f"{who:x<32}"[:32])
        made[who] = (token, Lease.objects.get(request=req))
        assert n == 0 or made["owner"][1].phone != made[who][1].phone
    return made


def test_the_history_filter_names_one_token(client, personas, two_cis):
    client.force_login(personas["owner"])
    (mine, lease) = two_cis["member"]
    (_theirs, other) = two_cis["owner"]
    for which in ("member · ci", mine.prefix, mine.prefix + "…"):
        html = client.get("/history/", {"token": which}).content.decode()
        assert lease.phone in html and other.phone not in html, which
    html = client.get("/history/", {"token": "ci"}).content.decode()
    assert "Several tokens fit ci: member · ci, owner · ci" in html
    r = client.get("/history.csv", {"token": "member · ci"})
    csv = b"".join(r.streaming_content).decode()
    assert lease.phone in csv and other.phone not in csv


def test_the_audit_actor_and_filter_name_one_token(client, personas, two_cis):
    client.force_login(personas["owner"])
    actors = set(ApiCall.objects.filter(endpoint="get_numbers").values_list("actor", flat=True))
    assert actors == {"member · ci", "owner · ci"}
    html = client.get("/audit/", {"token": "member · ci"}).content.decode()
    calls = ApiCall.objects.filter(actor="member · ci").count()
    assert calls >= 1 and html.count("<td><bdi>member · ci</bdi></td>") == calls
    assert "owner · ci" not in html
    html = client.get("/audit/", {"token": "ci"}).content.decode()
    assert "Several tokens fit ci" in html
    html = client.get("/audit/", {"token": "nope"}).content.decode()
    assert "No API token nope." in html


@pytest.mark.django_db(transaction=True)
def test_the_migration_tells_apart_tokens_that_shared_a_name(personas):
    executor = MigrationExecutor(connection)
    before = [("accounts", "0009_api_token_limited")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Token = apps.get_model("accounts", "ApiToken")
    member = personas["member"].pk
    for n in range(3):
        Token.objects.create(user_id=member, name="ci", digest=f"{n:064}", prefix=f"zk_ab{n}")
    Token.objects.create(user_id=personas["owner"].pk, name="ci", digest="f" * 64, prefix="zk_o")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("accounts"))
    names = sorted(ApiToken.objects.filter(user_id=member).values_list("name", flat=True))
    assert names == ["ci", "ci (zk_ab1)", "ci (zk_ab2)"]
    assert ApiToken.objects.get(user=personas["owner"]).name == "ci"


def test_revoking_a_token_on_the_page_asks_first(client, personas):
    token, raw = tokens.issue(personas["member"], "nightly")
    client.force_login(personas["member"])
    listing = client.get("/tokens/").content.decode()
    # The list offers a link to a confirmation, not a button that revokes at once.
    assert f'href="/tokens/{token.pk}/revoke/"' in listing
    assert f'action="/tokens/{token.pk}/revoke/"' not in listing
    ask = client.get(f"/tokens/{token.pk}/revoke/")
    html = ask.content.decode()
    assert ask.status_code == 200 and 'role="alertdialog"' in html
    assert f"Revoke token <bdi>nightly</bdi> ({token.prefix}…)?" in html
    assert tokens.authenticate(raw) == personas["member"]  # asking revoked nothing
    client.post(f"/tokens/{token.pk}/revoke/")
    assert tokens.authenticate(raw) is None
    assert client.get(f"/tokens/{token.pk}/revoke/").status_code == 302
