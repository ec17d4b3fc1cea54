# SiteSettings now lives in the `core` app, on the same table: state only, no SQL.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("gallery", "0007_failure_code"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SiteSettings")],
            database_operations=[],
        ),
    ]
