"""Explicit lease state and typed items, step 3: the old string columns give way."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leases", "0008_reasons_as_codes"),
    ]

    operations = [
        migrations.RemoveField(model_name="item", name="status"),
        migrations.RemoveField(model_name="item", name="type"),
        migrations.RenameField(model_name="item", old_name="status_code", new_name="status"),
        migrations.RenameField(model_name="item", old_name="type_code", new_name="type"),
        migrations.AlterField(
            model_name="item",
            name="release_after_code",
            field=models.BooleanField(
                default=True,
                help_text="Applies to items that only receive (types 1 and 2); items that can send (types 3 to 6) keep the number for sending and further SMS.",
                verbose_name="release when the code arrives",
            ),
        ),
        migrations.AlterField(
            model_name="item",
            name="status",
            field=models.PositiveSmallIntegerField(
                blank=True,
                choices=[(1, "normal"), (2, "expired"), (3, "other problem")],
                null=True,
                verbose_name="status",
            ),
        ),
        migrations.AlterField(
            model_name="item",
            name="type",
            field=models.PositiveSmallIntegerField(
                blank=True,
                choices=[
                    (1, "one number per request"),
                    (2, "several numbers per request"),
                    (3, "can send one SMS"),
                    (4, "can send several SMS"),
                    (5, "sends and receives several SMS"),
                    (6, "sends and receives several SMS"),
                ],
                null=True,
                verbose_name="type",
            ),
        ),
        migrations.AlterField(
            model_name="lease",
            name="end_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("user", "released by %(user)s"),
                    ("admin", "released by %(user)s in the admin"),
                    ("release_all", "release all by %(user)s"),
                    ("blacklisted", "blacklisted by %(user)s"),
                    ("code", "code received"),
                    ("deadline", "released before the upstream's forced release"),
                    ("wait_limit", "no SMS within the item's wait limit"),
                    ("held", "held for the item's wait limit after the last SMS"),
                    ("lost", "the SMS was lost (status 3)"),
                    ("timeout", "the upstream timed out waiting (status 4)"),
                    ("status", "upstream status %(s)s"),
                    ("gone", "released upstream: %(msg)s"),
                    ("recovered", "released after an interrupted blacklisting"),
                    ("other", "%(text)s"),
                ],
                default="",
                max_length=20,
                verbose_name="reason",
            ),
        ),
        migrations.AlterField(
            model_name="leaseevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("leased", "leased"),
                    ("received", "received"),
                    ("waiting", "waiting for another SMS"),
                    ("sent", "sent"),
                    ("released", "released"),
                    ("expired", "expired"),
                    ("blocked", "blocked"),
                    ("failed", "failed"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="leaseevent",
            name="reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("user", "released by %(user)s"),
                    ("admin", "released by %(user)s in the admin"),
                    ("release_all", "release all by %(user)s"),
                    ("blacklisted", "blacklisted by %(user)s"),
                    ("code", "code received"),
                    ("deadline", "released before the upstream's forced release"),
                    ("wait_limit", "no SMS within the item's wait limit"),
                    ("held", "held for the item's wait limit after the last SMS"),
                    ("lost", "the SMS was lost (status 3)"),
                    ("timeout", "the upstream timed out waiting (status 4)"),
                    ("status", "upstream status %(s)s"),
                    ("gone", "released upstream: %(msg)s"),
                    ("recovered", "released after an interrupted blacklisting"),
                    ("other", "%(text)s"),
                ],
                default="",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("received", "received"),
                    ("sending", "sending"),
                    ("unknown", "not known whether it was sent"),
                    ("sent", "sent"),
                    ("delivered", "delivered"),
                    ("unconfirmed", "not confirmed: %(msg)s"),
                ],
                max_length=20,
            ),
        ),
    ]
