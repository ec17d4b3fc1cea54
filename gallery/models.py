"""Data and invariants of the gallery. No HTTP here: the services call the endpoint."""

import secrets

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

# Lowercase letters and digits without look-alikes: short, unguessable, URL-safe ids.
_ID_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"


def new_public_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class GenerationQuerySet(models.QuerySet):
    def succeeded(self) -> "GenerationQuerySet":
        return self.filter(status=Generation.Status.SUCCEEDED)


class Generation(models.Model):
    """One prompt sent to the endpoint, and the image it gave back once it succeeds."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)

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
        ]
        constraints = [
            models.CheckConstraint(
                name="generation_succeeded_has_image",
                condition=~Q(status="succeeded") | (~Q(original="") & ~Q(sha256="")),
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

    def file_fields(self) -> list[models.fields.files.FieldFile]:
        return [f for f in (self.original, self.thumbnail, self.thumbnail_2x) if f]
