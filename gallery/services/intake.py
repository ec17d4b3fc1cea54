"""Intake: what a valid prompt is, whether new work may start, and recording it.

Every way of creating work (the web form, retry, the three APIs, the command line) comes
through here: `validate_prompt` says what a prompt may be, and `admitted` is the one gate
(the prompt blocklist, then the owner's quotas and the per-address rate) that each new piece
of work passes in the transaction that records it. The task is enqueued once that commits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.models import SiteSettings
from gallery import tasks
from gallery.models import Generation, Preferences, StylePreset
from gallery.services import blocklist, presets, quotas

Status = Generation.Status

# --- What a valid prompt is -------------------------------------------------------------------

# Lazy (translated when shown): str() them where the text leaves Django (JSON, pydantic).
EMPTY_PROMPT = gettext_lazy("Describe the image you want.")
UNSTORABLE_TEXT = gettext_lazy("Remove the control characters from the text.")
# The same rule as `validate_prompt`, as the regular expressions a schema can publish:
# some text that is not only spaces, and no NUL.
PROMPT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
NEGATIVE_PROMPT_PATTERN = r"^[^\x00]*$"


def max_lengths() -> dict[str, int]:
    """The longest prompt and negative prompt the site takes, by field name."""
    return {
        "prompt": settings.GALLERY_PROMPT_MAX_LENGTH,
        "negative_prompt": settings.GALLERY_NEGATIVE_PROMPT_MAX_LENGTH,
    }


def is_storable(text: str) -> bool:
    """Text a database column can hold: no NUL, no lone surrogate ("\\ud800"), which JSON
    can spell and PostgreSQL refuses."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Characters that draw nothing but are not whitespace to str.strip(): format characters
# (zero-width space and joiners, direction marks, BOM: category Cf), lone combining marks,
# and the Hangul fillers, which render blank.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _is_visible(char: str) -> bool:
    return not (
        char.isspace()
        or char in _BLANK_LETTERS
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def is_blank(text: str) -> bool:
    """True when the text shows nothing: only spaces and invisible characters."""
    return not any(_is_visible(char) for char in text)


def validate_prompt(prompt: str | None, negative_prompt: str | None = "") -> tuple[str, str]:
    """The prompts as they will be stored (stripped), or ValidationError by field saying
    what to change: blank (spaces or invisible characters only), too long, or holding text
    no database can store."""
    texts = {"prompt": (prompt or "").strip(), "negative_prompt": (negative_prompt or "").strip()}
    errors = {}
    if is_blank(texts["prompt"]):
        errors["prompt"] = str(EMPTY_PROMPT)
    for name, limit in max_lengths().items():
        text = texts[name]
        if name in errors:
            continue
        if len(text) > limit:
            if name == "prompt":
                message = _("Keep the prompt to %(limit)s characters (it has %(length)s).")
            else:
                message = _("Keep the negative prompt to %(limit)s characters (it has %(length)s).")
            errors[name] = message % {"limit": limit, "length": len(text)}
        elif not is_storable(text):
            errors[name] = str(UNSTORABLE_TEXT)
    if errors:
        raise ValidationError(errors)
    return texts["prompt"], texts["negative_prompt"]


# --- Whether new work may start ---------------------------------------------------------------


@contextmanager
def admitted(
    *,
    owner: User | None,
    prompt: str,
    negative_prompt: str,
    client_ip: str | None,
) -> Iterator[None]:
    """The intake gate. The prompt is checked against the blocklist before anything is
    written (a refused prompt leaves only its attempt log); then, in a transaction that the
    caller records the work in, the owner is charged one image (per-address rate, images
    in progress, daily quota). Refusals raise ValidationError (SubmissionRefused for a
    limit); a refused or rolled-back submission counts nothing."""
    blocklist.check(prompt, negative_prompt, user=owner)
    with transaction.atomic():
        quotas.charge_submission(owner, client_ip)
        yield


# --- Recording work ---------------------------------------------------------------------------


def submit(
    *,
    prompt: str,
    negative_prompt: str = "",
    owner: User | None = None,
    visibility: str = "",
    source: Generation | None = None,
    client_ip: str | None = None,
    preset: StylePreset | None = None,
) -> Generation:
    """Record a new generation and queue it. The task is enqueued only once the row is
    committed; if that enqueue is lost, the worker's sweep finds the row and enqueues it.

    `visibility` blank means the owner's default, else the site's. Under pre-moderation a
    public image waits for staff approval (private images and staff's own do not).
    `client_ip` is the requesting address, for the per-address rate (None: not counted).
    With a style `preset`, what is sent (and checked) is the preset's prompts, and what the
    user typed is kept beside them."""
    prompt, negative_prompt = validate_prompt(prompt, negative_prompt)
    typed = {"typed_prompt": "", "typed_negative_prompt": "", "preset_name": ""}
    if preset is not None:
        typed = {
            "typed_prompt": prompt,
            "typed_negative_prompt": negative_prompt,
            "preset_name": preset.name,
        }
        prompt, negative_prompt = validate_prompt(*presets.apply(preset, prompt, negative_prompt))
    site = SiteSettings.load()
    if not visibility:
        preferences = Preferences.for_user(owner) if owner else None
        visibility = (preferences and preferences.default_visibility) or site.default_visibility
    # Pre-moderation holds what others would see; a private image has no audience to protect.
    moderation = Generation.Moderation.VISIBLE
    if (
        site.moderation_mode == SiteSettings.ModerationMode.PRE
        and visibility == Generation.Visibility.PUBLIC
        and not (owner and owner.is_staff)
    ):
        moderation = Generation.Moderation.PENDING

    gate = admitted(
        owner=owner, prompt=prompt, negative_prompt=negative_prompt, client_ip=client_ip
    )
    with gate:
        generation = Generation.objects.create(
            prompt=prompt,
            negative_prompt=negative_prompt,
            owner=owner,
            visibility=visibility,
            moderation=moderation,
            source=source,
            preset=preset,
            **typed,
            queued_at=timezone.now(),
        )
        transaction.on_commit(partial(tasks.enqueue, generation.pk), robust=True)
    return generation


def retry(
    generation: Generation,
    *,
    actor: User | None = None,
    client_ip: str | None = None,
) -> Generation:
    """Send a failed generation through the pipeline again, under the same id. It passes
    the same gate as new work, charged to `actor` (whoever asks; default the owner): a
    prompt blocked since, or an owner at a limit, cannot bring it back."""
    if generation.status != Status.FAILED:
        raise ValidationError(_("Only a failed generation can be retried."))
    charged = actor if actor is not None else generation.owner
    gate = admitted(
        owner=charged,
        prompt=generation.prompt,
        negative_prompt=generation.negative_prompt,
        client_ip=client_ip,
    )
    with gate:
        updated = Generation.objects.filter(pk=generation.pk, status=Status.FAILED).update(
            status=Status.QUEUED,
            failure_reason="",
            failure_detail="",
            failure_code="",
            status_note="",
            attempts=0,
            claims=0,
            started_at=None,
            finished_at=None,
            queued_at=timezone.now(),
        )
        if not updated:
            # Retried by someone else meanwhile: nothing to charge for.
            transaction.set_rollback(True)
        else:
            transaction.on_commit(partial(tasks.enqueue, generation.pk), robust=True)
    generation.refresh_from_db()
    return generation


def max_batch() -> int:
    """The most images one submission of the composer may ask for."""
    return max(1, settings.GALLERY_MAX_BATCH)


def submit_batch(
    *,
    count: int,
    prompt: str,
    negative_prompt: str = "",
    owner: User | None = None,
    visibility: str = "",
    source: Generation | None = None,
    client_ip: str | None = None,
    preset: StylePreset | None = None,
) -> tuple[list[Generation], str]:
    """Queue `count` images of one prompt (1 to `max_batch()`), each through the gate on its
    own: every image counts against the quotas, and as many as the limits allow are
    queued. Returns them with, when some were refused, a sentence saying how many and why
    (empty when all were queued). A refusal of the first image raises as `submit` does."""
    if not 1 <= count <= max_batch():
        raise ValidationError({"count": _("Ask for 1 to %(most)s images.") % {"most": max_batch()}})
    created: list[Generation] = []
    for _attempt in range(count):
        try:
            created.append(
                submit(
                    prompt=prompt,
                    negative_prompt=negative_prompt,
                    owner=owner,
                    visibility=visibility,
                    source=source,
                    client_ip=client_ip,
                    preset=preset,
                )
            )
        except ValidationError as exc:
            if not created:
                raise
            refused = count - len(created)
            note = ngettext(
                "%(queued)s of %(count)s images were queued; the other %(refused)s was "
                "refused: %(why)s",
                "%(queued)s of %(count)s images were queued; the other %(refused)s were "
                "refused: %(why)s",
                refused,
            )
            why = exc.messages[0]
            return created, note % {
                "queued": len(created),
                "count": count,
                "refused": refused,
                "why": why,
            }
    return created, ""
