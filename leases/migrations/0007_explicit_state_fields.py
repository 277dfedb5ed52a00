"""Explicit lease state and typed items, step 1: the new columns, next to the old ones."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leases", "0006_item_retired_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="lease",
            name="end_state",
            field=models.CharField(
                blank=True,
                default="",
                max_length=10,
                verbose_name="final state",
                choices=[
                    ("waiting", "waiting"),
                    ("received", "received"),
                    ("releasing", "releasing"),
                    ("released", "released"),
                    ("expired", "expired"),
                    ("blocked", "blocked"),
                    ("failed", "failed"),
                ],
            ),
        ),
        migrations.AddField(
            model_name="lease",
            name="end_params",
            field=models.JSONField(blank=True, default=dict, verbose_name="reason parameters"),
        ),
        migrations.AddField(
            model_name="message",
            name="status_msg",
            field=models.CharField(blank=True, max_length=300, default=""),
        ),
        migrations.AddField(
            model_name="leaseevent",
            name="reason",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="leaseevent",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="item",
            name="status_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="item",
            name="type_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
    ]
