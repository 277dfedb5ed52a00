"""Back up the database while the console runs, or restore a backup.

    python manage.py backup_db PATH            # write a backup
    python manage.py backup_db --restore PATH  # replace the database with a backup (stop the
                                               # web server and the workers first)

SQLite: SQLite's online backup API copies a consistent snapshot page by page while writers go
on (WAL); a restore checks the file's integrity first. PostgreSQL: ``pg_dump -Fc`` and
``pg_restore --clean --if-exists``, with the connection settings of ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


def _private(path: Path) -> None:
    """A backup holds every encrypted key and every number: 0600 before a byte is written,
    whether the file is new or written over."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Back up the database while it runs (SQLite or PostgreSQL), or restore a backup."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--restore", action="store_true")

    def handle(self, *args, path, restore, **opts):
        path = Path(path)
        vendor = connection.vendor
        if vendor == "sqlite":
            self._sqlite(path, restore)
        elif vendor == "postgresql":
            self._postgres(path, restore)
        else:
            raise CommandError(f"no backup method for {vendor}")
        self.stdout.write(f"{'Restored from' if restore else 'Backed up to'} {path}")

    def _sqlite(self, path: Path, restore: bool) -> None:
        connection.ensure_connection()
        live = connection.connection
        if restore:
            if not path.exists():
                raise CommandError(f"{path} does not exist")
            source = sqlite3.connect(path)
            try:
                ok = source.execute("PRAGMA integrity_check").fetchone()[0]
                if ok != "ok":
                    raise CommandError(f"{path} is damaged: {ok}")
                source.backup(live)
            finally:
                source.close()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path)
        target = sqlite3.connect(path)
        try:
            live.backup(target, pages=256)
        finally:
            target.close()

    def _postgres(self, path: Path, restore: bool) -> None:
        s = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""}
        conn = [
            "-h",
            s.get("HOST") or "localhost",
            "-p",
            str(s.get("PORT") or 5432),
            "-U",
            s.get("USER") or "postgres",
            "-d",
            s["NAME"],
        ]
        if restore:
            cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", *conn, str(path)]
        else:
            cmd = ["pg_dump", "-Fc", "-f", str(path), *conn]
            path.parent.mkdir(parents=True, exist_ok=True)
            _private(path)
        # A fixed program and arguments from our own settings; no shell. umask 077: whatever
        # the tools create is the owner's only.
        result = subprocess.run(  # noqa: S603
            cmd, env=env, capture_output=True, text=True, umask=0o077
        )
        if result.returncode != 0:
            raise CommandError(f"{cmd[0]} failed: {result.stderr.strip()[:500]}")
