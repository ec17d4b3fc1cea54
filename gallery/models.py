"""Data and invariants of the gallery. No HTTP here: the services call the endpoint."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
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
    # A style preset made `prompt` and `negative_prompt` (what was sent) from what the user
    # typed, kept here; blank without a preset. The name is copied: presets change.
    preset = models.ForeignKey(
        "StylePreset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preset_name = models.CharField(max_length=80, blank=True)
    typed_prompt = models.TextField(blank=True)
    typed_negative_prompt = models.TextField(blank=True)

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
    # What kind of failure, for machines (the APIs map it to a status code): one of
    # FAILURE_CODES, e.g. "endpoint_timeout".
    failure_code = models.CharField(max_length=32, blank=True)
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
    # What leaves the gallery instead of the original: a copy with the metadata the owner
    # allows and a C2PA manifest signed by this installation, made on the first download and
    # reused (gallery.services.downloads). `signed_variant` says what it was made with (the
    # signer and whether the prompt is in it); a different one now means it is made again.
    # Its SHA-256 lets the verify page recognise a downloaded copy.
    signed_original = models.FileField(upload_to="signed/", blank=True)
    signed_sha256 = models.CharField(max_length=64, blank=True)
    signed_variant = models.CharField(max_length=80, blank=True)

    # Perceptual hash (64-bit dHash, stored signed) for "similar images" and the
    # near-duplicate hold, and its four 16-bit bands, each indexed: two hashes within
    # Hamming distance 3 share at least one band, so candidates come from four index
    # lookups instead of a table scan (gallery.services.similarity).
    phash = models.BigIntegerField(null=True, blank=True)
    phash_band0 = models.IntegerField(null=True, blank=True)
    phash_band1 = models.IntegerField(null=True, blank=True)
    phash_band2 = models.IntegerField(null=True, blank=True)
    phash_band3 = models.IntegerField(null=True, blank=True)
    # The image scan (the optional `scan` extra): label -> score, and the highest score,
    # which the hold and blur thresholds compare with. Null: not scanned.
    scan_scores = models.JSONField(default=dict, blank=True)
    scan_risk = models.FloatField(null=True, blank=True)

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


class StylePreset(models.Model):
    """A style staff offer in the composer: the user's prompt goes into a template, and a
    negative prompt may be added to theirs (gallery.services.presets applies it)."""

    name = models.CharField(max_length=80, unique=True)
    prompt_template = models.TextField(
        help_text="The prompt sent, with {prompt} where the user's own goes, e.g. "
        '"{prompt}, watercolour, soft light".'
    )
    negative_prompt = models.TextField(
        blank=True, help_text="Added to the user's negative prompt (optional)."
    )
    # An image of the gallery showing the style (only shown while it is public).
    example = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.PositiveSmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if "{prompt}" not in self.prompt_template:
            raise ValidationError({"prompt_template": "Put {prompt} where the user's prompt goes."})


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


# --- Moderation -----------------------------------------------------------------------------


class ModerationEvent(models.Model):
    """One moderation decision, appended and never edited: who moved which image from which
    state to which, and why. Kept when the image is deleted (the public id stays)."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved"
        RESTORE = "restore", "Restored"
        HIDE = "hide", "Hidden"
        REMOVE = "remove", "Removed"
        HOLD = "hold", "Held for review"  # the system: reports, scan, near-duplicate
        UNDO = "undo", "System decision undone"
        GRANT = "grant", "Appeal granted"
        DENY = "deny", "Appeal denied"

    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generation_public_id = models.CharField(max_length=16, db_index=True)
    # Null: the system took the decision (or the moderator's account was deleted).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    from_state = models.CharField(max_length=8, choices=Generation.Moderation.choices)
    to_state = models.CharField(max_length=8, choices=Generation.Moderation.choices)
    reason = models.CharField(max_length=300, blank=True)
    # What a system decision was based on (scores, the removed image it resembles, the
    # reports counted), and for an undo or an appeal decision, the event or appeal it answers.
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
        SEXUAL = "sexual", "Sexual content"
        VIOLENCE = "violence", "Violence or gore"
        HATE = "hate", "Hate or harassment"
        ILLEGAL = "illegal", "Illegal content"
        SPAM = "spam", "Spam"
        OTHER = "other", "Something else"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    category = models.CharField(max_length=10, choices=Category.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when a moderator decides about the image: the decision closes every open report.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(max_length=8, choices=ModerationEvent.Action.choices, blank=True)

    class Meta:
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
        return f"{self.get_category_display()} on {self.generation_id} by {self.reporter_id}"


class Appeal(models.Model):
    """The owner of a hidden or removed image asks staff to look again: once per image."""

    class Outcome(models.TextChoices):
        GRANTED = "granted", "Granted"
        DENIED = "denied", "Denied"

    generation = models.OneToOneField(Generation, on_delete=models.CASCADE, related_name="appeal")
    appellant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="appeals"
    )
    note = models.CharField(max_length=500)
    # The decision appealed against, as it stood.
    appealed_state = models.CharField(max_length=8, choices=Generation.Moderation.choices)
    appealed_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    decision_reason = models.CharField(max_length=300, blank=True)

    class Meta:
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
        return f"Appeal on {self.generation_id} by {self.appellant_id}"

    @property
    def is_open(self) -> bool:
        return self.decided_at is None


class BlockedTerm(models.Model):
    """A word, phrase or regular expression that prompts may not contain."""

    class Kind(models.TextChoices):
        WORD = "word", "Word or phrase (whole words, any case, punctuation ignored)"
        PATTERN = "pattern", "Regular expression"

    term = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WORD)
    reason = models.CharField(
        max_length=200, help_text='Shown to the user whose prompt is refused, e.g. "violence".'
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    term = models.ForeignKey(BlockedTerm, null=True, blank=True, on_delete=models.SET_NULL)
    # Copied: the attempt stays readable after its term is edited or deleted.
    matched = models.CharField(max_length=200)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'}: {self.prompt[:60]}"


class EndpointPace(models.Model):
    """The next moment one endpoint may be called, shared by every worker on every machine
    (see gallery.services.pacing). One row per endpoint URL."""

    key = models.CharField(max_length=64, unique=True)
    # Microseconds since the epoch: an exact integer, compared in a conditional UPDATE.
    next_slot_us = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Pace {self.key[:12]}: next slot {self.next_slot_us}"


# --- Collections and share links ------------------------------------------------------------


class Collection(models.Model):
    """A user's named set of images. Public ones may be opened by anyone allowed to browse;
    each visitor still sees only the images they may see (gallery.services.access)."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=1000, blank=True)
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    # Chosen by the owner; when unset, or not visible to a visitor, the newest image the
    # visitor may see is the cover.
    cover = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    images = models.ManyToManyField(
        Generation, through="CollectionItem", related_name="collections", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
            raise ValidationError({"name": "Give the collection a name."})


class CollectionItem(models.Model):
    """One image in one collection, at most once."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="collection_items"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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

    token = models.CharField(max_length=64, unique=True, default=new_share_token, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    # Django's password hash ("" = no password).
    password = models.CharField(max_length=128, blank=True)
    hide_prompts = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
        return f"Share {self.token[:8]}… of {self.target}"

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

    day = models.DateField(unique=True)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # failure_code -> count, for the day's failures.
    failures = models.JSONField(default=dict, blank=True)
    # Seconds from queued to started, and from started to finished, of the day's finished
    # images (null: none that day).
    wait_p50 = models.FloatField(null=True, blank=True)
    wait_p95 = models.FloatField(null=True, blank=True)
    run_p50 = models.FloatField(null=True, blank=True)
    run_p95 = models.FloatField(null=True, blank=True)
    bytes_added = models.BigIntegerField(default=0)
    # Bytes of originals kept, measured when the day was rolled up.
    stored_bytes = models.BigIntegerField(default=0)
    reports = models.PositiveIntegerField(default=0)
    scanned = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    rolled_up_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "daily figures"

    def __str__(self) -> str:
        return f"Figures of {self.day}"


# Upper bounds (seconds) of the endpoint latency histogram's buckets; the last is open.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class EndpointStat(models.Model):
    """Calls to one endpoint on one UTC day with one outcome ("ok" or a failure code):
    counters the worker adds to after every call (gallery.services.dashboard.record_call),
    with a latency histogram for the percentiles and Prometheus."""

    day = models.DateField()
    endpoint = models.CharField(max_length=100)
    outcome = models.CharField(max_length=32)
    calls = models.PositiveIntegerField(default=0)
    seconds_total = models.FloatField(default=0.0)
    # Counts per LATENCY_BUCKETS bound (non-cumulative), plus one past the last.
    buckets = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-day", "endpoint", "outcome"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "endpoint", "outcome"], name="endpointstat_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.endpoint} {self.outcome}: {self.calls}"
