"""The pkey at rest: encrypted, never in clear, rotation, and a wrong key failing loudly."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from accounts import crypto
from accounts.models import DeveloperAccount
from accounts.registry import client_for

KEY_A = "eXhXGsv9fXajin3-lVgh4cMq5Z_UZyrQMIDGF910wds="
KEY_B = "nQaHlK_fzve6CntiJaf28oWeM0g04P4IDQ9XYrTcfn0="


@pytest.fixture
def keys(settings):
    def use(*keys):
        settings.ZHIMA_FIELD_KEYS = list(keys)
        crypto.fernet.cache_clear()

    yield use
    crypto.fernet.cache_clear()


def raw_column(pk):
    with connection.cursor() as cur:
        cur.execute("SELECT pkey_encrypted FROM accounts_developeraccount WHERE id = %s", [pk])
        return cur.fetchone()[0]


def test_the_database_column_never_holds_the_pkey(account):
    stored = raw_column(account.pk)
    assert "demo-pkey" not in stored
    assert Fernet(KEY_A.encode()).decrypt(stored.encode()) == b"demo-pkey"


def test_a_wrong_key_fails_loudly_and_sends_nothing(account, keys, sim):
    keys(KEY_B)
    account.refresh_from_db()
    with pytest.raises(crypto.SecretUnreadable):
        client_for(account)
    assert sim.stats()["requests"] == {}


def test_rotation_re_encrypts_under_the_newest_key(account, keys):
    keys(KEY_B, KEY_A)
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    keys(KEY_B)
    account.refresh_from_db()
    assert account.get_pkey() == "demo-pkey"


def test_rotation_refuses_when_a_pkey_cannot_be_read(account, keys):
    keys(KEY_B)
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_keys")
    assert raw_column(account.pk) == DeveloperAccount.objects.get().pkey_encrypted


def test_without_keys_one_is_generated_once_into_a_file(settings, tmp_path, keys):
    settings.ZHIMA_FIELD_KEYS = []
    settings.ZHIMA_FIELD_KEYS_FILE = str(tmp_path / "conf" / "field-keys")
    crypto.fernet.cache_clear()
    token = crypto.encrypt("x")
    crypto.fernet.cache_clear()
    assert crypto.decrypt(token) == "x"
    path = tmp_path / "conf" / "field-keys"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(path.read_text().split()) == 1
