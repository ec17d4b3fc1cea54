# SiteSettings moved here from `gallery`: the table stays as it was (gallery_sitesettings),
# so this only tells Django's model state where the model now lives.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("gallery", "0007_failure_code"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SiteSettings",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("signup_mode", models.CharField(choices=[("closed", "Closed: staff create accounts"), ("invite", "By invitation link"), ("open", "Open to anyone")], default="closed", max_length=8)),
                        ("moderation_mode", models.CharField(choices=[("post", "Post-moderation: public at once, staff can hide"), ("pre", "Pre-moderation: public only once staff approve")], default="post", max_length=8)),
                        ("anonymous_browsing", models.BooleanField(default=True, help_text="Visitors who are not signed in may browse the public gallery.")),
                        ("default_visibility", models.CharField(choices=[("public", "Public"), ("private", "Private")], default="public", help_text="Visibility of new images for users who have not chosen their own default.", max_length=8)),
                        ("report_threshold", models.PositiveSmallIntegerField(default=3, help_text="Open reports that hide an image until staff review it.")),
                        ("account_deletion", models.CharField(choices=[("delete", "Delete its images"), ("anonymise", "Keep its public images, without an owner")], default="delete", help_text="What happens to the images of an account that is deleted. Anonymised images stay public without an owner; private ones are deleted either way.", max_length=10)),
                    ],
                    options={
                        "verbose_name": "site settings",
                        "verbose_name_plural": "site settings",
                        "db_table": "gallery_sitesettings",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
