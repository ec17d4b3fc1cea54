"""Site-wide settings and the vocabulary both apps share. Imports nothing of the project."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Visibility(models.TextChoices):
    """Who may see an image: everyone allowed to browse, or its owner (and staff) only."""

    PUBLIC = "public", _("Public")
    PRIVATE = "private", _("Private")


class SiteSettings(models.Model):
    """The site-wide choices an administrator makes in the admin. One row (pk=1)."""

    class SignupMode(models.TextChoices):
        CLOSED = "closed", "Closed: staff create accounts"
        INVITE = "invite", "By invitation link"
        OPEN = "open", "Open to anyone"

    class AccountDeletion(models.TextChoices):
        DELETE_IMAGES = "delete", "Delete its images"
        ANONYMISE_IMAGES = "anonymise", "Keep its public images, without an owner"

    class ModerationMode(models.TextChoices):
        POST = "post", "Post-moderation: public at once, staff can hide"
        PRE = "pre", "Pre-moderation: public only once staff approve"

    signup_mode = models.CharField(
        max_length=8, choices=SignupMode.choices, default=SignupMode.CLOSED
    )
    moderation_mode = models.CharField(
        max_length=8, choices=ModerationMode.choices, default=ModerationMode.POST
    )
    anonymous_browsing = models.BooleanField(
        default=True, help_text="Visitors who are not signed in may browse the public gallery."
    )
    default_visibility = models.CharField(
        max_length=8,
        choices=Visibility.choices,
        default=Visibility.PUBLIC,
        help_text="Visibility of new images for users who have not chosen their own default.",
    )
    report_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="Open reports that hide an image until staff review it."
    )
    # The image scan (only with the `scan` extra installed): scores are 0..1.
    scan_hold_threshold = models.FloatField(
        default=0.8,
        help_text="Scan score at or above which a new image is held for review (1 or more: never).",
    )
    scan_blur_threshold = models.FloatField(
        default=0.5,
        help_text="Scan score at or above which an image is blurred for everyone but its "
        "owner and staff until clicked (1 or more: never).",
    )
    account_deletion = models.CharField(
        max_length=10,
        choices=AccountDeletion.choices,
        default=AccountDeletion.DELETE_IMAGES,
        help_text="What happens to the images of an account that is deleted. Anonymised "
        "images stay public without an owner; private ones are deleted either way.",
    )

    class Meta:
        # The table keeps the name it had when the model lived in `gallery`.
        db_table = "gallery_sitesettings"
        verbose_name = verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "SiteSettings":
        return cls.objects.get_or_create(pk=1)[0]
