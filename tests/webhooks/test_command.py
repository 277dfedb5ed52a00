"""``manage.py webhook add|list|remove``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leases.webhooks.models import Webhook

from .conftest import SECRET


def run(*args) -> str:
    out = StringIO()
    call_command("webhook", *args, stdout=out)
    return out.getvalue()


def test_add_list_remove(account):
    out = run(
        "add", "Sandbox", "https://ci.example.com/h", "--secret", SECRET, "--events", "lease.ended"
    )
    assert SECRET not in out
    hook = Webhook.objects.get()
    assert hook.events == ["lease.ended"] and hook.get_secret() == SECRET
    listed = run("list")
    assert "https://ci.example.com/h" in listed and "Sandbox" in listed and SECRET not in listed
    assert "lease.ended" in listed and "active" in listed
    assert run("list", "Nope") == ""
    assert f"webhook {hook.pk} removed" in run("remove", str(hook.pk))
    assert not Webhook.objects.exists()


def test_without_a_secret_one_is_generated_and_printed_once_on_the_last_line(account):
    out = run("add", "Sandbox", "http://127.0.0.1:9999/h")
    secret = out.strip().splitlines()[-1]
    assert Webhook.objects.get().get_secret() == secret and secret.startswith("whsec_")
    assert Webhook.objects.get().events == ["lease.code_received", "lease.ended"]
    assert secret not in run("list")


@pytest.mark.parametrize(
    "args",
    [
        ("add", "Nope", "https://ci.example.com/h"),
        ("add", "Sandbox", "ftp://ci.example.com/h"),
        ("add", "Sandbox", "https://ci.example.com/h", "--events", "lease.nope"),
        ("add", "Sandbox", "https://ci.example.com/h", "--secret", "short"),
        ("remove", "12345"),
    ],
)
def test_bad_input_is_one_clear_error(account, args):
    with pytest.raises(CommandError):
        run(*args)
    assert not Webhook.objects.exists()


def test_rotate_keys_re_encrypts_the_secrets_under_the_newest_key(account, monkeypatch):
    from cryptography.fernet import Fernet, MultiFernet
    from django.conf import settings

    from accounts import crypto

    run("add", "Sandbox", "https://ci.example.com/h", "--secret", SECRET)
    old_token = Webhook.objects.get().secret_encrypted
    old = [Fernet(k.encode()) for k in settings.ZHIMA_FIELD_KEYS]
    new = Fernet(Fernet.generate_key())
    monkeypatch.setattr(crypto, "fernet", lambda: MultiFernet([new, *old]))
    assert "1 webhook secret(s)" in run("rotate-keys")
    hook = Webhook.objects.get()
    assert hook.secret_encrypted != old_token
    monkeypatch.setattr(crypto, "fernet", lambda: MultiFernet([new]))  # the old key retired
    assert hook.get_secret() == SECRET
