"""Data and invariants of the gallery. No HTTP here: the services call the endpoint."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

# Lowercase letters and digits without look-alikes: short, unguessable, URL-safe ids.
_ID_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"


def new_public_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class SiteSettings(models.Model):
    """The site-wide choices an administrator makes in the admin. One row (pk=1)."""

    class SignupMode(models.TextChoices):
        CLOSED = "closed", "Closed: staff create accounts"
        INVITE = "invite", "By invitation link"
        OPEN = "open", "Open to anyone"

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
        choices=[("public", "Public"), ("private", "Private")],
        default="public",
        help_text="Visibility of new images for users who have not chosen their own default.",
    )
    report_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="Open reports that hide an image until staff review it."
    )

    class Meta:
        verbose_name = verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    def save(self, *args, **kwargs):
        self.pk = 1  # a singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "SiteSettings":
        return cls.objects.get_or_create(pk=1)[0]


class GenerationQuerySet(models.QuerySet):
    def succeeded(self) -> "GenerationQuerySet":
        return self.filter(status=Generation.Status.SUCCEEDED)

    def public(self) -> "GenerationQuerySet":
        """What anyone allowed to browse may see: done, public and not moderated away."""
        return self.filter(
            status=Generation.Status.SUCCEEDED,
            visibility=Generation.Visibility.PUBLIC,
            moderation=Generation.Moderation.VISIBLE,
        )


class Generation(models.Model):
    """One prompt sent to the endpoint, and the image it gave back once it succeeds."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    class Moderation(models.TextChoices):
        VISIBLE = "visible", "Visible"
        PENDING = "pending", "Pending review"
        HIDDEN = "hidden", "Hidden"
        REMOVED = "removed", "Removed"

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    # Null once an account is deleted with its images kept, anonymised.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # "Generate again": the image whose prompt this one started from.
    source = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives"
    )

    # Moderation: the last decision, who took it, when and why (the owner sees the reason).
    moderation = models.CharField(
        max_length=8, choices=Moderation.choices, default=Moderation.VISIBLE
    )
    moderation_reason = models.CharField(max_length=300, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    moderated_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # What the user is told when it failed, and what staff need to find out why.
    failure_reason = models.CharField(max_length=300, blank=True)
    failure_detail = models.TextField(blank=True)
    # Calls made to the endpoint, and times a worker claimed the job (a claim that never
    # finished means the worker died).
    attempts = models.PositiveSmallIntegerField(default=0)
    claims = models.PositiveSmallIntegerField(default=0)
    # Only the worker holding this token may finish the job; it stops being valid at
    # lease_expires_at, after which another worker may claim the job again.
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # Shown while it runs, e.g. "The endpoint is busy; trying again in 8 s".
    status_note = models.CharField(max_length=300, blank=True)

    # The image, byte-exact as the endpoint sent it, and thumbnails for the grid at 1x and 2x.
    original = models.FileField(upload_to="originals/", blank=True)
    thumbnail = models.FileField(upload_to="thumbnails/", blank=True)
    thumbnail_2x = models.FileField(upload_to="thumbnails/", blank=True)
    # The detail page's image (WebP, 1024 px at most). Rows stored before it existed have
    # none and show thumbnail_2x instead. (Not "preview": the admin has a column of that name.)
    preview_image = models.FileField(upload_to="previews/", blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    format = models.CharField(max_length=8, blank=True)
    byte_size = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # Average colour of the image, painted while the thumbnail loads.
    placeholder_color = models.CharField(max_length=7, blank=True)
    endpoint_label = models.CharField(max_length=100, blank=True)
    endpoint_url = models.URLField(max_length=500, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The gallery: succeeded rows, newest first, keyset-paginated on id.
            models.Index(fields=["status", "-id"], name="generation_status_id"),
            # The public gallery, newest first: only the rows it can show are in the index.
            models.Index(
                fields=["-id"],
                name="generation_public_feed",
                condition=Q(status="succeeded", visibility="public", moderation="visible"),
            ),
            # "Mine" and the history page.
            models.Index(fields=["owner", "-id"], name="generation_owner_id"),
        ]
        constraints = [
            models.CheckConstraint(
                name="generation_succeeded_has_image",
                # A removed image's files are deleted; its row stays to tell the owner why.
                condition=~Q(status="succeeded")
                | Q(moderation="removed")
                | (~Q(original="") & ~Q(sha256="")),
            ),
            models.CheckConstraint(
                name="generation_failed_has_reason",
                condition=~Q(status="failed") | ~Q(failure_reason=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id}: {self.prompt[:60]}"

    def get_absolute_url(self) -> str:
        return reverse("gallery:generation", args=[self.public_id])

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def has_image(self) -> bool:
        """Done, and its files not deleted by a moderator's removal."""
        return self.status == self.Status.SUCCEEDED and self.moderation != self.Moderation.REMOVED

    @property
    def elapsed_seconds(self) -> int:
        """Seconds from submission to the end, or to now while it is still going."""
        end = self.finished_at or timezone.now()
        return max(0, round((end - self.created_at).total_seconds()))

    def media_url(self, field: str) -> str:
        """URL of one of this row's files, served by the authorising media view."""
        name = getattr(self, field).name.rsplit("/", 1)[-1]
        return reverse("gallery:media", args=[self.public_id, name])

    @property
    def original_url(self) -> str:
        return self.media_url("original")

    @property
    def thumbnail_url(self) -> str:
        return self.media_url("thumbnail")

    @property
    def thumbnail_2x_url(self) -> str:
        return self.media_url("thumbnail_2x")

    @property
    def preview_url(self) -> str:
        return self.media_url("preview_image" if self.preview_image else "thumbnail_2x")

    def file_fields(self) -> list[models.fields.files.FieldFile]:
        files = (self.original, self.thumbnail, self.thumbnail_2x, self.preview_image)
        return [f for f in files if f]


class Preferences(models.Model):
    """A user's own choices. Created on first use, so every user has defaults without a row."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    # Blank: the site's default.
    default_visibility = models.CharField(
        max_length=8, choices=Generation.Visibility.choices, blank=True
    )
    embed_metadata = models.BooleanField(
        default=True,
        help_text="Write the prompt and where the image came from into downloaded files.",
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.user}"

    @classmethod
    def for_user(cls, user) -> "Preferences":
        if not user.is_authenticated:
            return cls()
        return cls.objects.get_or_create(user=user)[0]


class Favourite(models.Model):
    """A user starred an image."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="favourited_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "generation"], name="favourite_once"),
        ]
        indexes = [models.Index(fields=["user", "-generation"], name="favourite_user_gen")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.generation_id}"
