"""Files are private: the SQLite database, the generated field-key file and
backups are created 0600; a named key file that does not exist yet is created, not a crash."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIMA_FIELD", "DATABASE"))}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "zhima_site.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_named_key_file_that_does_not_exist_yet_is_created_0600(tmp_path):
    keys = tmp_path / "etc" / "zhima" / "field-keys"
    code = "from accounts.crypto import encrypt, decrypt; print(decrypt(encrypt('demo-pkey')))"
    env = {"ZHIMA_FIELD_KEYS_FILE": str(keys), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    r = _python(code, env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("demo-pkey")
    assert _mode(keys) == 0o600 and _mode(keys.parent) == 0o700
    first = keys.read_text()
    assert _python(code, env).returncode == 0 and keys.read_text() == first  # reused, not redone


def test_a_key_file_that_cannot_be_created_is_refused_with_a_clear_message(tmp_path):
    blocked = tmp_path / "a-file"  # a path through a file: no directory can be made there
    blocked.write_text("")
    env = {
        "ZHIMA_FIELD_KEYS_FILE": str(blocked / "sub" / "field-keys"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIMA_FIELD", "DATABASE"))}
    r = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "ZHIMA_FIELD_KEYS_FILE" in r.stderr and "cannot be created" in r.stderr


def test_the_sqlite_database_is_created_0600(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    code = "from django.db import connection; connection.ensure_connection(); print('ok')"
    r = _python(code, {"DATABASE_URL": f"sqlite:///{db}"})
    assert r.returncode == 0, r.stderr
    assert _mode(db) == 0o600
    old = tmp_path / "old.sqlite3"
    old.touch(mode=0o644)
    os.chmod(old, 0o644)
    assert _python(code, {"DATABASE_URL": f"sqlite:///{old}"}).returncode == 0
    assert _mode(old) == 0o600  # an existing world-readable database is made private


@pytest.mark.django_db(transaction=True)
def test_backups_are_created_0600(tmp_path, account):
    target = tmp_path / "backup.db"
    call_command("backup_db", str(target))
    assert target.stat().st_size > 0
    assert _mode(target) == 0o600, connection.vendor
    # an existing file written over becomes private too
    target.chmod(0o644)
    call_command("backup_db", str(target))
    assert _mode(target) == 0o600
