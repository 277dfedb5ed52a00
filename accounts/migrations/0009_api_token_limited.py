from django.db import migrations, models


def mark_limited(apps, schema_editor):
    """A token that names accounts keeps its restriction. (A token whose every account was
    deleted before this field existed names none and cannot be told from an unrestricted one.)"""
    ApiToken = apps.get_model("accounts", "ApiToken")
    Through = ApiToken.accounts.through
    ids = Through.objects.values_list("apitoken_id", flat=True).distinct()
    ApiToken.objects.filter(pk__in=list(ids)).update(limited=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_api_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="limited",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="limited to its accounts"
            ),
        ),
        migrations.RunPython(mark_limited, migrations.RunPython.noop),
    ]
