"""Data and invariants of the gallery. No HTTP here: the services call the endpoint."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.models import Visibility
from gallery import textmatch
from gallery.routes import route

# Lowercase letters and digits without look-alikes: short, unguessable, URL-safe ids.
_ID_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"


def new_public_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


# What anyone allowed to browse may see: done, public and not moderated away. The one
# definition, for queries here and in access.py, the partial index, and `is_public`.
PUBLIC = Q(status="succeeded", visibility="public", moderation="visible")


class GenerationQuerySet(models.QuerySet):
    def succeeded(self) -> "GenerationQuerySet":
        return self.filter(status=Generation.Status.SUCCEEDED)

    def public(self) -> "GenerationQuerySet":
        return self.filter(PUBLIC)

    def with_image(self) -> "GenerationQuerySet":
        """Done, and its files not deleted by a moderator's removal (see `has_image`)."""
        return self.filter(status=Generation.Status.SUCCEEDED).exclude(
            moderation=Generation.Moderation.REMOVED
        )


class Generation(models.Model):
    """One prompt sent to the endpoint, and the image it gave back once it succeeds."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Generating")
        SUCCEEDED = "succeeded", _("Done")
        FAILED = "failed", _("Failed")

    Visibility = Visibility

    class Moderation(models.TextChoices):
        VISIBLE = "visible", _("Visible")
        PENDING = "pending", _("Pending review")
        HIDDEN = "hidden", _("Hidden")
        REMOVED = "removed", _("Removed")

    public_id = models.CharField(
        max_length=16,
        unique=True,
        default=new_public_id,
        editable=False,
        verbose_name=_("public id"),
    )
    prompt = models.TextField(verbose_name=_("prompt"))
    negative_prompt = models.TextField(blank=True, verbose_name=_("negative prompt"))
    # Null once an account is deleted with its images kept, anonymised.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        verbose_name=_("owner"),
    )
    visibility = models.CharField(
        max_length=8,
        choices=Visibility.choices,
        default=Visibility.PUBLIC,
        verbose_name=_("visibility"),
    )
    # "Generate again": the image whose prompt this one started from.
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derivatives",
        verbose_name=_("source"),
    )
    # A style preset made `prompt` and `negative_prompt` (what was sent) from what the user
    # typed, kept here; blank without a preset. The name is copied: presets change.
    preset = models.ForeignKey(
        "StylePreset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("preset"),
    )
    preset_name = models.CharField(max_length=80, blank=True, verbose_name=_("preset name"))
    typed_prompt = models.TextField(blank=True, verbose_name=_("typed prompt"))
    typed_negative_prompt = models.TextField(blank=True, verbose_name=_("typed negative prompt"))

    # Moderation: the last decision, who took it, when and why (the owner sees the reason).
    moderation = models.CharField(
        max_length=8,
        choices=Moderation.choices,
        default=Moderation.VISIBLE,
        verbose_name=_("moderation"),
    )
    moderation_reason = models.CharField(
        max_length=300, blank=True, verbose_name=_("moderation reason")
    )
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("moderated by"),
    )
    moderated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("moderated at"))

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, verbose_name=_("status")
    )
    # What the user is told when it failed, and what staff need to find out why.
    failure_reason = models.CharField(max_length=300, blank=True, verbose_name=_("failure reason"))
    failure_detail = models.TextField(blank=True, verbose_name=_("failure detail"))
    # What kind of failure, for machines (the APIs map it to a status code): one of
    # FAILURE_CODES, e.g. "endpoint_timeout".
    failure_code = models.CharField(max_length=32, blank=True, verbose_name=_("failure code"))
    # Calls made to the endpoint, and times a worker claimed the job (a claim that never
    # finished means the worker died).
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    claims = models.PositiveSmallIntegerField(default=0, verbose_name=_("claims"))
    # Only the worker holding this token may finish the job; it stops being valid at
    # lease_expires_at, after which another worker may claim the job again.
    claim_token = models.CharField(max_length=32, blank=True, verbose_name=_("claim token"))
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("lease expires at")
    )
    task_id = models.CharField(max_length=64, blank=True, verbose_name=_("task id"))
    # Shown while it runs, e.g. "The endpoint is busy; trying again in 8 s".
    status_note = models.CharField(max_length=300, blank=True, verbose_name=_("status note"))

    # The image, byte-exact as the endpoint sent it, and thumbnails for the grid at 1x and 2x.
    original = models.FileField(upload_to="originals/", blank=True, verbose_name=_("original"))
    thumbnail = models.FileField(upload_to="thumbnails/", blank=True, verbose_name=_("thumbnail"))
    thumbnail_2x = models.FileField(
        upload_to="thumbnails/", blank=True, verbose_name=_("thumbnail 2x")
    )
    # The detail page's image (WebP, 1024 px at most). Rows stored before it existed have
    # none and show thumbnail_2x instead. (Not "preview": the admin has a column of that name.)
    preview_image = models.FileField(
        upload_to="previews/", blank=True, verbose_name=_("preview image")
    )
    width = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("width"))
    height = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("height"))
    format = models.CharField(max_length=8, blank=True, verbose_name=_("format"))
    byte_size = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("byte size"))
    sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("sha256"))
    # Average colour of the image, painted while the thumbnail loads.
    placeholder_color = models.CharField(
        max_length=7, blank=True, verbose_name=_("placeholder color")
    )
    endpoint_label = models.CharField(max_length=100, blank=True, verbose_name=_("endpoint label"))
    endpoint_url = models.URLField(max_length=500, blank=True, verbose_name=_("endpoint url"))
    # What leaves the gallery instead of the original: a copy with the metadata the owner
    # allows and a C2PA manifest signed by this installation, made on the first download and
    # reused (gallery.services.downloads). `signed_variant` says what it was made with (the
    # signer and whether the prompt is in it); a different one now means it is made again.
    # Its SHA-256 lets the verify page recognise a downloaded copy.
    signed_original = models.FileField(
        upload_to="signed/", blank=True, verbose_name=_("signed original")
    )
    signed_sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("signed sha256"))
    signed_variant = models.CharField(max_length=80, blank=True, verbose_name=_("signed variant"))

    # Perceptual hash (64-bit dHash, stored signed) for "similar images" and the
    # near-duplicate hold, and its four 16-bit bands, each indexed: two hashes within
    # Hamming distance 3 share at least one band, so candidates come from four index
    # lookups instead of a table scan (gallery.services.similarity).
    phash = models.BigIntegerField(null=True, blank=True, verbose_name=_("phash"))
    phash_band0 = models.IntegerField(null=True, blank=True, verbose_name=_("phash band0"))
    phash_band1 = models.IntegerField(null=True, blank=True, verbose_name=_("phash band1"))
    phash_band2 = models.IntegerField(null=True, blank=True, verbose_name=_("phash band2"))
    phash_band3 = models.IntegerField(null=True, blank=True, verbose_name=_("phash band3"))
    # The image scan (the optional `scan` extra): label -> score, and the highest score,
    # which the hold and blur thresholds compare with. Null: not scanned.
    scan_scores = models.JSONField(default=dict, blank=True, verbose_name=_("scan scores"))
    scan_risk = models.FloatField(null=True, blank=True, verbose_name=_("scan risk"))

    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    queued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("queued at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    objects = GenerationQuerySet.as_manager()

    class Meta:
        verbose_name = _("generation")
        verbose_name_plural = _("generations")
        ordering = ["-id"]
        indexes = [
            # The gallery: succeeded rows, newest first, keyset-paginated on id.
            models.Index(fields=["status", "-id"], name="generation_status_id"),
            # The public gallery, newest first: only the rows it can show are in the index.
            models.Index(
                fields=["-id"],
                name="generation_public_feed",
                condition=PUBLIC,
            ),
            # "Mine" and the history page.
            models.Index(fields=["owner", "-id"], name="generation_owner_id"),
            # The queue's turns: when each owner's last image started (gallery.services.queue).
            models.Index(fields=["owner", "-started_at"], name="generation_owner_started"),
            # The review queue (pending, oldest first) and the admin's moderation filter.
            models.Index(fields=["moderation", "-id"], name="generation_moderation_id"),
            # The verify page: which image a file is, by the original's or the signed copy's hash.
            models.Index(fields=["sha256"], name="generation_sha256"),
            models.Index(fields=["signed_sha256"], name="generation_signed_sha256"),
            # Similar images: one index per band of the perceptual hash.
            models.Index(fields=["phash_band0"], name="generation_phash_b0"),
            models.Index(fields=["phash_band1"], name="generation_phash_b1"),
            models.Index(fields=["phash_band2"], name="generation_phash_b2"),
            models.Index(fields=["phash_band3"], name="generation_phash_b3"),
            # The review queue sorted by risk.
            models.Index(fields=["-scan_risk"], name="generation_scan_risk"),
            # The operator's dashboard: one day's finished images, and the last day's
            # submissions per user (gallery.services.dashboard).
            models.Index(fields=["finished_at"], name="generation_finished_at"),
            models.Index(fields=["created_at"], name="generation_created_at"),
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
        return route("gallery:generation", self.public_id)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def is_public(self) -> bool:
        """The row matches `PUBLIC`."""
        return (
            self.status == self.Status.SUCCEEDED
            and self.visibility == self.Visibility.PUBLIC
            and self.moderation == self.Moderation.VISIBLE
        )

    @property
    def has_image(self) -> bool:
        """Done, and its files not deleted by a moderator's removal."""
        return self.status == self.Status.SUCCEEDED and self.moderation != self.Moderation.REMOVED

    @property
    def elapsed_seconds(self) -> int:
        """Seconds from submission to the end, or to now while it is still going."""
        end = self.finished_at or timezone.now()
        return max(0, round((end - self.created_at).total_seconds()))

    # Derivatives (never the original) of a public image have a URL of their own, which
    # serves only while the image is public: the URL changes whenever that does, so shared
    # caches may keep what it serves (gallery/services/access.py, docs/decisions.md).
    DERIVATIVE_FIELDS = ("thumbnail", "thumbnail_2x", "preview_image")

    def media_url(self, field: str) -> str:
        """URL of one of this row's files, served by the authorising media view."""
        name = getattr(self, field).name.rsplit("/", 1)[-1]
        if field in self.DERIVATIVE_FIELDS and self.is_public:
            return route("gallery:public-media", self.public_id, name)
        return route("gallery:media", self.public_id, name)

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

    # The image's own files: the original and what the pipeline makes from it (served by
    # name, exported, imported, rebuilt).
    FILE_FIELDS = ("original", "thumbnail", "thumbnail_2x", "preview_image")
    # Every file a generation owns, the signed copy included; load them all (e.g. with
    # `.only()`) before deleting rows.
    ALL_FILE_FIELDS = (*FILE_FIELDS, "signed_original")

    def file_fields(self) -> list[models.fields.files.FieldFile]:
        """Every file the row names (the signed copy too, once there is one)."""
        return [f for f in (getattr(self, name) for name in self.ALL_FILE_FIELDS) if f]

    def file_named(
        self, filename: str, among: tuple[str, ...] = FILE_FIELDS
    ) -> models.fields.files.FieldFile | None:
        """The file of `among` whose name ends in `filename` (what a media URL names), or
        None: only the row's own files are ever served, whatever the URL says."""
        for name in among:
            field = getattr(self, name)
            if field and field.name.rsplit("/", 1)[-1] == filename:
                return field
        return None


class Preferences(models.Model):
    """A user's own choices. Created on first use, so every user has defaults without a row."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="preferences",
        verbose_name=_("user"),
    )
    # Blank: the site's default.
    default_visibility = models.CharField(
        max_length=8,
        choices=Generation.Visibility.choices,
        blank=True,
        verbose_name=_("default visibility"),
    )
    embed_metadata = models.BooleanField(
        default=True,
        help_text=_("Write the prompt and where the image came from into downloaded files."),
        verbose_name=_("embed metadata"),
    )

    class Meta:
        verbose_name = _("preferences")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return gettext("Preferences of %(user)s") % {"user": self.user}

    @classmethod
    def for_user(cls, user) -> "Preferences":
        if not user.is_authenticated:
            return cls()
        return cls.objects.get_or_create(user=user)[0]


class StylePreset(models.Model):
    """A style staff offer in the composer: the user's prompt goes into a template, and a
    negative prompt may be added to theirs (gallery.services.presets applies it)."""

    name = models.CharField(max_length=80, unique=True, verbose_name=_("name"))
    prompt_template = models.TextField(
        help_text=_(
            "The prompt sent, with {prompt} where the user's own goes, e.g. "
            '"{prompt}, watercolour, soft light".'
        ),
        verbose_name=_("prompt template"),
    )
    negative_prompt = models.TextField(
        blank=True,
        help_text=_("Added to the user's negative prompt (optional)."),
        verbose_name=_("negative prompt"),
    )
    # An image of the gallery showing the style (only shown while it is public).
    example = models.ForeignKey(
        Generation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("example"),
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))

    class Meta:
        verbose_name = _("style preset")
        verbose_name_plural = _("style presets")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if "{prompt}" not in self.prompt_template:
            raise ValidationError(
                {"prompt_template": _("Put {prompt} where the user's prompt goes.")}
            )


class Favourite(models.Model):
    """A user starred an image."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="favourites",
        verbose_name=_("user"),
    )
    generation = models.ForeignKey(
        Generation,
        on_delete=models.CASCADE,
        related_name="favourited_by",
        verbose_name=_("generation"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("favourite")
        verbose_name_plural = _("favourites")
        constraints = [
            models.UniqueConstraint(fields=["user", "generation"], name="favourite_once"),
        ]
        indexes = [models.Index(fields=["user", "-generation"], name="favourite_user_gen")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.generation_id}"


# --- Moderation -----------------------------------------------------------------------------


class ModerationEvent(models.Model):
    """One moderation decision, appended and never edited: who moved which image from which
    state to which, and why. Kept when the image is deleted (the public id stays)."""

    class Action(models.TextChoices):
        APPROVE = "approve", _("Approved")
        RESTORE = "restore", _("Restored")
        HIDE = "hide", _("Hidden")
        REMOVE = "remove", _("Removed")
        HOLD = "hold", _("Held for review")  # the system: reports, scan, near-duplicate
        UNDO = "undo", _("System decision undone")
        GRANT = "grant", _("Appeal granted")
        DENY = "deny", _("Appeal denied")

    generation = models.ForeignKey(
        Generation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("generation"),
    )
    generation_public_id = models.CharField(
        max_length=16, db_index=True, verbose_name=_("generation public id")
    )
    # Null: the system took the decision (or the moderator's account was deleted).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    action = models.CharField(max_length=8, choices=Action.choices, verbose_name=_("action"))
    from_state = models.CharField(
        max_length=8, choices=Generation.Moderation.choices, verbose_name=_("from state")
    )
    to_state = models.CharField(
        max_length=8, choices=Generation.Moderation.choices, verbose_name=_("to state")
    )
    reason = models.CharField(max_length=300, blank=True, verbose_name=_("reason"))
    # What a system decision was based on (scores, the removed image it resembles, the
    # reports counted), and for an undo or an appeal decision, the event or appeal it answers.
    evidence = models.JSONField(default=dict, blank=True, verbose_name=_("evidence"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("moderation event")
        verbose_name_plural = _("moderation events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["generation", "-id"], name="modevent_generation_id")]

    def __str__(self) -> str:
        return f"{self.generation_public_id}: {self.from_state} → {self.to_state}"

    @property
    def is_system(self) -> bool:
        return self.action == self.Action.HOLD and self.actor_id is None


class Report(models.Model):
    """A user flagged a public image. Open until a moderator decides about the image."""

    class Category(models.TextChoices):
        SEXUAL = "sexual", _("Sexual content")
        VIOLENCE = "violence", _("Violence or gore")
        HATE = "hate", _("Hate or harassment")
        ILLEGAL = "illegal", _("Illegal content")
        SPAM = "spam", _("Spam")
        OTHER = "other", _("Something else")

    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="reports", verbose_name=_("generation")
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="reports",
        verbose_name=_("reporter"),
    )
    category = models.CharField(max_length=10, choices=Category.choices, verbose_name=_("category"))
    note = models.CharField(max_length=500, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # Set when a moderator decides about the image: the decision closes every open report.
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolution = models.CharField(
        max_length=8,
        choices=ModerationEvent.Action.choices,
        blank=True,
        verbose_name=_("resolution"),
    )

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["id"]
        constraints = [
            # One open report per user and image. Its index also serves "open reports of
            # this image" and the review queue (open reports by image id).
            models.UniqueConstraint(
                fields=["generation", "reporter"],
                condition=Q(resolved_at__isnull=True),
                name="report_one_open_per_user",
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(category)s on %(generation)s by %(reporter)s") % {
            "category": self.get_category_display(),
            "generation": self.generation_id,
            "reporter": self.reporter_id,
        }


class Appeal(models.Model):
    """The owner of a hidden or removed image asks staff to look again: once per image."""

    class Outcome(models.TextChoices):
        GRANTED = "granted", _("Granted")
        DENIED = "denied", _("Denied")

    generation = models.OneToOneField(
        Generation, on_delete=models.CASCADE, related_name="appeal", verbose_name=_("generation")
    )
    appellant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="appeals",
        verbose_name=_("appellant"),
    )
    note = models.CharField(max_length=500, verbose_name=_("note"))
    # The decision appealed against, as it stood.
    appealed_state = models.CharField(
        max_length=8, choices=Generation.Moderation.choices, verbose_name=_("appealed state")
    )
    appealed_reason = models.CharField(
        max_length=300, blank=True, verbose_name=_("appealed reason")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    outcome = models.CharField(
        max_length=8, choices=Outcome.choices, blank=True, verbose_name=_("outcome")
    )
    decision_reason = models.CharField(
        max_length=300, blank=True, verbose_name=_("decision reason")
    )

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        ordering = ["id"]
        indexes = [
            # The review queue: open appeals, oldest first.
            models.Index(
                fields=["generation"],
                name="appeal_open",
                condition=Q(decided_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return gettext("Appeal on %(generation)s by %(appellant)s") % {
            "generation": self.generation_id,
            "appellant": self.appellant_id,
        }

    @property
    def is_open(self) -> bool:
        return self.decided_at is None


class BlockedTerm(models.Model):
    """A word, phrase or regular expression that prompts may not contain."""

    class Kind(models.TextChoices):
        WORD = "word", _("Word or phrase (whole words, any case, punctuation ignored)")
        PATTERN = "pattern", _("Regular expression")

    term = models.CharField(max_length=200, verbose_name=_("term"))
    kind = models.CharField(
        max_length=8, choices=Kind.choices, default=Kind.WORD, verbose_name=_("kind")
    )
    reason = models.CharField(
        max_length=200,
        help_text=_('Shown to the user whose prompt is refused, e.g. "violence".'),
        verbose_name=_("reason"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("blocked term")
        verbose_name_plural = _("blocked terms")
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def save(self, *args, **kwargs):
        # Never store a pattern that cannot compile, whoever saves it (admin, shell, fixture).
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        error = textmatch.term_error(self.term, pattern=self.kind == self.Kind.PATTERN)
        if error:
            raise ValidationError({"term": error})


class BlockedAttempt(models.Model):
    """A prompt refused by the blocklist: what was asked, by whom, and which term matched."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    prompt = models.TextField(verbose_name=_("prompt"))
    negative_prompt = models.TextField(blank=True, verbose_name=_("negative prompt"))
    term = models.ForeignKey(
        BlockedTerm, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("term")
    )
    # Copied: the attempt stays readable after its term is edited or deleted.
    matched = models.CharField(max_length=200, verbose_name=_("matched"))
    reason = models.CharField(max_length=200, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("blocked attempt")
        verbose_name_plural = _("blocked attempts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.user or gettext('anonymous')}: {self.prompt[:60]}"


class EndpointPace(models.Model):
    """The next moment one endpoint may be called, shared by every worker on every machine
    (see gallery.services.pacing). One row per endpoint URL."""

    key = models.CharField(max_length=64, unique=True)
    # Microseconds since the epoch: an exact integer, compared in a conditional UPDATE.
    next_slot_us = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("endpoint pace")
        verbose_name_plural = _("endpoint paces")

    def __str__(self) -> str:
        return f"Pace {self.key[:12]}: next slot {self.next_slot_us}"


# --- Collections and share links ------------------------------------------------------------


class Collection(models.Model):
    """A user's named set of images. Public ones may be opened by anyone allowed to browse;
    each visitor still sees only the images they may see (gallery.services.access)."""

    public_id = models.CharField(
        max_length=16,
        unique=True,
        default=new_public_id,
        editable=False,
        verbose_name=_("public id"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="collections",
        verbose_name=_("owner"),
    )
    name = models.CharField(max_length=100, verbose_name=_("name"))
    description = models.TextField(max_length=1000, blank=True, verbose_name=_("description"))
    visibility = models.CharField(
        max_length=8,
        choices=Visibility.choices,
        default=Visibility.PRIVATE,
        verbose_name=_("visibility"),
    )
    # Chosen by the owner; when unset, or not visible to a visitor, the newest image the
    # visitor may see is the cover.
    cover = models.ForeignKey(
        Generation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cover"),
    )
    images = models.ManyToManyField(
        Generation,
        through="CollectionItem",
        related_name="collections",
        blank=True,
        verbose_name=_("images"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "-id"], name="collection_owner_id")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("gallery:collection", args=[self.public_id])

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    def clean(self) -> None:
        self.name = " ".join(self.name.split())
        if not self.name:
            raise ValidationError({"name": _("Give the collection a name.")})


class CollectionItem(models.Model):
    """One image in one collection, at most once."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="items", verbose_name=_("collection")
    )
    generation = models.ForeignKey(
        Generation,
        on_delete=models.CASCADE,
        related_name="collection_items",
        verbose_name=_("generation"),
    )
    added_at = models.DateTimeField(auto_now_add=True, verbose_name=_("added at"))

    class Meta:
        verbose_name = _("collection item")
        verbose_name_plural = _("collection items")
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "generation"], name="collection_item_once"
            ),
        ]
        # The unique constraint's index, (collection, generation), also walks a collection's
        # images newest first for its keyset pages; this one finds an image's collections.
        indexes = [models.Index(fields=["generation"], name="collection_item_generation")]

    def __str__(self) -> str:
        return f"{self.collection_id} ∋ {self.generation_id}"


def new_share_token() -> str:
    # 32 random bytes: not guessable, not enumerable (the token is the only key).
    return secrets.token_urlsafe(32)


class ShareLink(models.Model):
    """An unguessable link to one image or one collection for people without an account.
    It opens while not revoked and not expired; a password, if set, is stored hashed."""

    token = models.CharField(
        max_length=64, unique=True, default=new_share_token, editable=False, verbose_name=_("token")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="share_links",
        verbose_name=_("owner"),
    )
    generation = models.ForeignKey(
        Generation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="share_links",
        verbose_name=_("generation"),
    )
    collection = models.ForeignKey(
        Collection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="share_links",
        verbose_name=_("collection"),
    )
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    # Django's password hash ("" = no password).
    password = models.CharField(max_length=128, blank=True, verbose_name=_("password"))
    hide_prompts = models.BooleanField(default=False, verbose_name=_("hide prompts"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "-id"], name="sharelink_owner_id")]
        constraints = [
            models.CheckConstraint(
                name="sharelink_one_target",
                condition=(Q(generation__isnull=False) & Q(collection__isnull=True))
                | (Q(generation__isnull=True) & Q(collection__isnull=False)),
            ),
        ]

    def __str__(self) -> str:
        return gettext("Share %(token)s… of %(target)s") % {
            "token": self.token[:8],
            "target": self.target,
        }

    def get_absolute_url(self) -> str:
        return reverse("gallery:share", args=[self.token])

    @property
    def target(self) -> "Generation | Collection | None":
        return self.generation or self.collection

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def is_open(self, now=None) -> bool:
        """Not revoked and not expired."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if not self.is_open():
            return "expired"
        return "active"


# --- The operator's dashboard ---------------------------------------------------------------


class DailyFigures(models.Model):
    """One finished UTC day of the dashboard's figures, rolled up once by the worker's
    housekeeping (gallery.services.dashboard), so a chart reads a row per day, not a
    million generations. Today is always computed live."""

    day = models.DateField(unique=True, verbose_name=_("day"))
    succeeded = models.PositiveIntegerField(default=0, verbose_name=_("succeeded"))
    failed = models.PositiveIntegerField(default=0, verbose_name=_("failed"))
    # failure_code -> count, for the day's failures.
    failures = models.JSONField(default=dict, blank=True, verbose_name=_("failures"))
    # Seconds from queued to started, and from started to finished, of the day's finished
    # images (null: none that day).
    wait_p50 = models.FloatField(null=True, blank=True, verbose_name=_("wait p50"))
    wait_p95 = models.FloatField(null=True, blank=True, verbose_name=_("wait p95"))
    run_p50 = models.FloatField(null=True, blank=True, verbose_name=_("run p50"))
    run_p95 = models.FloatField(null=True, blank=True, verbose_name=_("run p95"))
    bytes_added = models.BigIntegerField(default=0, verbose_name=_("bytes added"))
    # Bytes of originals kept, measured when the day was rolled up.
    stored_bytes = models.BigIntegerField(default=0, verbose_name=_("stored bytes"))
    reports = models.PositiveIntegerField(default=0, verbose_name=_("reports"))
    scanned = models.PositiveIntegerField(default=0, verbose_name=_("scanned"))
    held = models.PositiveIntegerField(default=0, verbose_name=_("held"))
    rolled_up_at = models.DateTimeField(auto_now=True, verbose_name=_("rolled up at"))

    class Meta:
        verbose_name = _("daily figures")
        verbose_name_plural = _("daily figures")
        ordering = ["-day"]

    def __str__(self) -> str:
        return gettext("Figures of %(day)s") % {"day": self.day}


# Upper bounds (seconds) of the endpoint latency histogram's buckets; the last is open.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class EndpointStat(models.Model):
    """Calls to one endpoint on one UTC day with one outcome ("ok" or a failure code):
    counters the worker adds to after every call (gallery.services.dashboard.record_call),
    with a latency histogram for the percentiles and Prometheus."""

    day = models.DateField(verbose_name=_("day"))
    endpoint = models.CharField(max_length=100, verbose_name=_("endpoint"))
    outcome = models.CharField(max_length=32, verbose_name=_("outcome"))
    calls = models.PositiveIntegerField(default=0, verbose_name=_("calls"))
    seconds_total = models.FloatField(default=0.0, verbose_name=_("seconds total"))
    # Counts per LATENCY_BUCKETS bound (non-cumulative), plus one past the last.
    buckets = models.JSONField(default=list, blank=True, verbose_name=_("buckets"))

    class Meta:
        verbose_name = _("endpoint stat")
        verbose_name_plural = _("endpoint stats")
        ordering = ["-day", "endpoint", "outcome"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "endpoint", "outcome"], name="endpointstat_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.endpoint} {self.outcome}: {self.calls}"
