"""Full-text search of prompts: an FTS5 table on SQLite, a GIN index on PostgreSQL.

The SQL lives in gallery.services.search, beside the queries that must match it.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    from gallery.services import search

    search.install(schema_editor.connection)


def backwards(apps, schema_editor):
    from gallery.services import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0002_accounts_visibility_moderation"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
