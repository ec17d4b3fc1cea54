"""Changing who can see an image after it was made: public <-> private, by its owner or staff.

Under pre-moderation an image a user (not staff) makes public enters the review queue, as it
would have had it been public from the start; making an image private needs no review."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.models import SiteSettings
from gallery.models import Generation
from gallery.services import access, media_cache, moderation

Visibility = Generation.Visibility
# Stored as the hold's reason (the database keeps the words): not translated.
REVIEW_REASON = gettext_noop("Made public by its owner: waiting for a moderator.")


def change(generation: Generation, visibility: str, *, actor: User) -> Generation:
    """Set the image's visibility; returns the row as it now is. Who may is
    `access.can_manage`'s question; ValidationError for anything but public or private."""
    if visibility not in Visibility.values:
        raise ValidationError(_("Choose public or private."))
    if not access.can_manage(actor, generation):
        raise ValidationError(_("Only the image's owner or staff can change who sees it."))
    with transaction.atomic():
        row = Generation.objects.select_for_update().get(pk=generation.pk)
        if row.visibility != visibility:
            Generation.objects.filter(pk=row.pk).update(visibility=visibility)
            row.visibility = visibility
            site = SiteSettings.load()
            if (
                visibility == Visibility.PUBLIC
                and site.moderation_mode == SiteSettings.ModerationMode.PRE
                and row.moderation == Generation.Moderation.VISIBLE
                and not actor.is_staff
            ):
                moderation.hold(row, REVIEW_REASON)
            # Public derivative URLs change with visibility; caches must forget the old state.
            media_cache.access_changed()
    return row


def change_many(user: User, public_ids: Iterable[str], visibility: str) -> int:
    """Set the visibility of the user's own images among `public_ids`; returns the count."""
    wanted = {p for p in public_ids if p}
    items = list(access.own(user).filter(public_id__in=wanted)) if wanted else []
    for item in items:
        change(item, visibility, actor=user)
    return len(items)
