"""``manage.py api_token list``: each token's access, expiry and account limits."""

from io import StringIO

from django.core.management import call_command


def test_list_shows_read_only_expiry_and_account_limits(personas):
    from accounts.models import DeveloperAccount

    sandbox = DeveloperAccount.objects.get(name="Sandbox")
    call_command("api_token", "create", "member", "--name", "ci", stdout=StringIO())
    call_command(
        "api_token", "create", "member", "--name", "watch", "--read-only", "--days", "7",
        "--account", "Sandbox", stdout=StringIO(),
    )  # fmt: skip
    out = StringIO()
    call_command("api_token", "list", "member", stdout=out)
    lines = {line.split("\t")[0]: line.split("\t") for line in out.getvalue().splitlines()}
    assert lines["ci"][2:6] == ["active", "read-write", "no expiry", "all accounts"]
    watch = lines["watch"]
    assert watch[2:4] == ["active", "read-only"]
    assert watch[4].startswith("expires 20") and watch[5] == f"accounts {sandbox.name}"
    assert watch[6] == "last used never"
