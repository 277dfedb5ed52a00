"""A member's API token names become unique; tokens that shared a name are told apart by
their prefix first ("ci" and "ci" become "ci" and "ci (zk_AbC123)")."""

from django.conf import settings
from django.db import migrations, models


def rename_duplicates(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    seen = set()
    for token in ApiToken.objects.order_by("user_id", "created_at", "id"):
        key = (token.user_id, token.name)
        if key in seen:
            suffix = f" ({token.prefix})"
            token.name = token.name[: 80 - len(suffix)] + suffix
            token.save(update_fields=["name"])
        seen.add((token.user_id, token.name))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_api_token_limited"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.UniqueConstraint(
                fields=("user", "name"), name="apitoken_one_name_per_member"
            ),
        ),
    ]
