"""Backup while running and restore, with nothing lost (SQLite here; PostgreSQL in CI's
second run, through pg_dump and pg_restore)."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import ApiCall, DeveloperAccount
from tests.conftest import wait_until

pytestmark = [pytest.mark.backend, pytest.mark.django_db(transaction=True)]


def test_back_up_while_writing_then_restore(tmp_path, account):
    stop = threading.Event()
    written = []

    def writer():
        from django.db import connection as conn

        while not stop.is_set():
            ApiCall.objects.create(
                account=account, actor="writer", endpoint="get_sms", outcome="ok"
            )
            written.append(1)
            time.sleep(0.002)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert wait_until(lambda: len(written) >= 20)  # the backup starts amid the writes
    call_command("backup_db", str(tmp_path / "backup.db"))
    after = len(written)
    assert wait_until(lambda: len(written) >= after + 20)  # and more follow it
    stop.set()
    thread.join()
    total = ApiCall.objects.count()
    assert total == len(written) > 0
    # the damage: rows lost after the backup, an account deleted by mistake
    ApiCall.objects.filter(pk__gt=0)._raw_delete(ApiCall.objects.db)
    DeveloperAccount.objects.filter(pk=account.pk).delete()
    assert ApiCall.objects.count() == 0
    call_command("backup_db", str(tmp_path / "backup.db"), "--restore")
    connection.close()
    restored = ApiCall.objects.count()
    assert 0 < restored <= total  # the snapshot taken while writing, complete and consistent
    assert DeveloperAccount.objects.get(pk=account.pk).get_pkey() == "demo-pkey"
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("PRAGMA integrity_check")
            assert cur.fetchone()[0] == "ok"


def test_a_damaged_backup_is_refused(tmp_path, db):
    if connection.vendor != "sqlite":
        pytest.skip("a SQLite file check")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 80 + b"garbage" * 100)
    with pytest.raises(Exception):  # noqa: B017 - damaged or not a database: both refused
        call_command("backup_db", str(bad), "--restore")
