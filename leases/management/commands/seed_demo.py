"""Fill the database with realistic history, fast, for the page benchmarks.

    python manage.py seed_demo --leases 1000000 --audit 5000000

Rows go in with plain multi-row INSERTs in large transactions (no model instances), spread
over the past year across a few accounts, members and items. It refuses to run twice.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiCall, DeveloperAccount, Membership, Role
from leases.models import EndReason, Item, ItemStatus, Lease, Message, SendStatus

BATCH = 5000
ENDPOINTS = ["get_sms"] * 8 + ["get_numbers", "release", "verify", "details"]
OUTCOMES = ["ok"] * 17 + ["refused", "transport", "unreadable"]


class Command(BaseCommand):
    help = "Seed demo history (leases, messages, audit rows) with fast bulk inserts."

    def add_arguments(self, parser):
        parser.add_argument("--leases", type=int, default=10000)
        parser.add_argument("--audit", type=int, default=50000)
        parser.add_argument("--accounts", type=int, default=3)
        parser.add_argument("--members", type=int, default=10)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **o):
        if Lease.objects.filter(phone__startswith="199").exists():
            raise CommandError("demo data is already seeded in this database")
        rng = random.Random(o["seed"])
        start = time.monotonic()
        accounts, items, users = self._base(o, rng)
        now = timezone.now()
        year = 365 * 24 * 3600
        lease_ids = self._leases(o["leases"], accounts, items, users, now, year, rng)
        self._audit(o["audit"], accounts, users, lease_ids, now, year, rng)
        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Lease]):
                cur.execute(sql)  # PostgreSQL: the next lease the ORM makes follows the seeded
            cur.execute("ANALYZE")  # fresh planner statistics, as the hourly task keeps them
        self.stdout.write(
            f"Seeded {o['leases']} leases and {o['audit']} audit rows in "
            f"{time.monotonic() - start:.0f} s."
        )

    def _base(self, o, rng):
        User = get_user_model()
        users = []
        for i in range(o["members"]):
            user, _ = User.objects.get_or_create(username=f"demo{i}")
            if not user.has_usable_password():
                user.set_password(f"demo{i}-pw")
                user.save()
            users.append(user)
        accounts, items = [], []
        for a in range(o["accounts"]):
            acc, created = DeveloperAccount.objects.get_or_create(
                name=f"Demo {a}", defaults={"upstream_account": f"demo{a}", "sandbox": True}
            )
            if created:
                acc.set_pkey(f"demo{a}-pkey")
                acc.save()
            accounts.append(acc)
            for i, user in enumerate(users):
                role = Role.MANAGER if i == 0 else Role.OPERATOR
                Membership.objects.get_or_create(user=user, account=acc, defaults={"role": role})
            for t in range(1, 7):
                item, _ = Item.objects.get_or_create(
                    account=acc,
                    item_id=f"{1000 + t}",
                    defaults={
                        "name": f"Demo item {t}",
                        "status": ItemStatus.NORMAL,
                        "type": t,
                        "price_raw": "0.1",
                        "tiers": [{"price": "0.1", "low": 1, "high": None}],
                    },
                )
                items.append(item)
        return accounts, items, users

    def _insert(self, model, columns, rows):
        """Rows as raw INSERTs (the ORM's bulk_create is several times slower at millions);
        every required column not named gets the field's default, so a field added to the
        model later does not break the seeding."""
        rest = [
            f
            for f in model._meta.concrete_fields
            if f.column not in columns and not f.primary_key and not f.null
        ]
        tail = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)
        columns = [*columns, *(f.column for f in rest)]
        cols = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        table = model._meta.db_table
        with connection.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})",  # noqa: S608
                [(*row, *tail) for row in rows],
            )

    def _leases(self, n, accounts, items, users, now, year, rng):
        states = ["released"] * 14 + ["expired"] * 3 + ["failed", "blocked"]
        lcols = [
            "id",  # explicit: the messages name their lease (a sequence may not be at max + 1)
            "account_id",
            "item_id",
            "phone",
            "user_id",
            "state",
            "end_state",
            "end_reason",
            "end_params",
            "leased_at",
            "received_at",
            "ended_at",
            "polls",
            "release_deadline",
            "cost",
            "code",
            "version",
        ]
        mcols = [
            "lease_id",
            "direction",
            "text",
            "digest",
            "status",
            "status_msg",
            "candidates",
            "code",
            "created_at",
        ]
        first_id = (Lease.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        done = 0
        while done < n:
            size = min(BATCH * 4, n - done)
            rows, msgs = [], []
            for i in range(size):
                item = rng.choice(items)
                at = now - timedelta(seconds=rng.random() * year)
                state = rng.choice(states)
                code = f"{rng.randrange(10**6):06d}" if state == "released" else ""
                rows.append(
                    (
                        first_id + done + i,
                        item.account_id,
                        item.pk,
                        f"199{rng.randrange(10**8):08d}",
                        rng.choice(users).pk,
                        state,
                        state,
                        EndReason.OTHER,
                        json.dumps({"text": "demo"}),
                        at,
                        at + timedelta(seconds=8) if code else None,
                        at + timedelta(seconds=30),
                        rng.randint(1, 12),
                        at + timedelta(minutes=25),
                        Decimal("0.1"),
                        code,
                        3,
                    )
                )
                if code:
                    text = f"【Demo】您的验证码是{code}，5分钟内有效。"
                    msgs.append(
                        (
                            first_id + done + i,
                            "in",
                            text,
                            hashlib.sha256(text.encode()).hexdigest(),
                            SendStatus.RECEIVED,
                            "",
                            json.dumps([code]),
                            code,
                            at + timedelta(seconds=8),
                        )
                    )
            with transaction.atomic():
                self._insert(Lease, lcols, rows)
                self._insert(Message, mcols, msgs)
            done += size
            self.stdout.write(f"  leases {done}/{n}")
        return (first_id, first_id + n - 1)

    def _audit(self, n, accounts, users, lease_ids, now, year, rng):
        cols = [
            "created_at",
            "account_id",
            "actor",
            "user_id",
            "endpoint",
            "params",
            "http_status",
            "latency_ms",
            "outcome",
            "msg",
            "raw_body",
            "lease_id",
            "phone",
        ]
        done = 0
        while done < n:
            size = min(BATCH * 4, n - done)
            rows = []
            for _ in range(size):
                endpoint = rng.choice(ENDPOINTS)
                outcome = rng.choice(OUTCOMES)
                user = rng.choice(users)
                rows.append(
                    (
                        now - timedelta(seconds=rng.random() * year),
                        rng.choice(accounts).pk,
                        "task:poller" if endpoint == "get_sms" else user.username,
                        None if endpoint == "get_sms" else user.pk,
                        endpoint,
                        json.dumps({"itemId": "1001"}),
                        200,
                        rng.randint(2, 90),
                        outcome,
                        "" if outcome == "ok" else "号码余量不足",
                        '{"status":"1"}',
                        rng.randint(*lease_ids),
                        f"199{rng.randrange(10**8):08d}",
                    )
                )
            with transaction.atomic():
                self._insert(ApiCall, cols, rows)
            done += size
            if done % 500000 < size:
                self.stdout.write(f"  audit {done}/{n}")
