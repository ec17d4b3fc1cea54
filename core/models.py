"""Site-wide settings and the vocabulary both apps share. Imports nothing of the project."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Visibility(models.TextChoices):
    """Who may see an image: everyone allowed to browse, or its owner (and staff) only."""

    PUBLIC = "public", _("Public")
    PRIVATE = "private", _("Private")


class SiteSettings(models.Model):
    """The site-wide choices an administrator makes in the admin. One row (pk=1)."""

    class SignupMode(models.TextChoices):
        CLOSED = "closed", _("Closed: staff create accounts")
        INVITE = "invite", _("By invitation link")
        OPEN = "open", _("Open to anyone")

    class AccountDeletion(models.TextChoices):
        DELETE_IMAGES = "delete", _("Delete its images")
        ANONYMISE_IMAGES = "anonymise", _("Keep its public images, without an owner")

    class ModerationMode(models.TextChoices):
        POST = "post", _("Post-moderation: public at once, staff can hide")
        PRE = "pre", _("Pre-moderation: public only once staff approve")

    signup_mode = models.CharField(
        max_length=8,
        choices=SignupMode.choices,
        default=SignupMode.CLOSED,
        verbose_name=_("signup mode"),
    )
    moderation_mode = models.CharField(
        max_length=8,
        choices=ModerationMode.choices,
        default=ModerationMode.POST,
        verbose_name=_("moderation mode"),
    )
    anonymous_browsing = models.BooleanField(
        default=True,
        help_text=_("Visitors who are not signed in may browse the public gallery."),
        verbose_name=_("anonymous browsing"),
    )
    default_visibility = models.CharField(
        max_length=8,
        choices=Visibility.choices,
        default=Visibility.PUBLIC,
        help_text=_("Visibility of new images for users who have not chosen their own default."),
        verbose_name=_("default visibility"),
    )
    report_threshold = models.PositiveSmallIntegerField(
        default=3,
        help_text=_("Open reports that hide an image until staff review it."),
        verbose_name=_("report threshold"),
    )
    # The image scan (only with the `scan` extra installed): scores are 0..1.
    scan_hold_threshold = models.FloatField(
        default=0.8,
        help_text=_(
            "Scan score at or above which a new image is held for review (1 or more: never)."
        ),
        verbose_name=_("scan hold threshold"),
    )
    scan_blur_threshold = models.FloatField(
        default=0.5,
        help_text=_(
            "Scan score at or above which an image is blurred for everyone but its "
            "owner and staff until clicked (1 or more: never)."
        ),
        verbose_name=_("scan blur threshold"),
    )
    account_deletion = models.CharField(
        max_length=10,
        choices=AccountDeletion.choices,
        default=AccountDeletion.DELETE_IMAGES,
        help_text=_(
            "What happens to the images of an account that is deleted. Anonymised "
            "images stay public without an owner; private ones are deleted either way."
        ),
        verbose_name=_("account deletion"),
    )

    class Meta:
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")
        # The table keeps the name it had when the model lived in `gallery`.
        db_table = "gallery_sitesettings"

    def __str__(self) -> str:
        return gettext("Site settings")

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "SiteSettings":
        return cls.objects.get_or_create(pk=1)[0]
