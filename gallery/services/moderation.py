"""Moderation: staff decisions about images, users' reports, and the review queue.

States (Generation.moderation) and the decisions that move between them:

    visible --hide--> hidden --approve (restore)--> visible
    visible --hold (reports reach the threshold; the system)--> pending
    pending --approve--> visible     pending --hide--> hidden
    any but removed --remove--> removed   (files deleted; the row keeps the reason)

Pre-moderation starts public images in `pending` (see intake.submit). Every decision is
appended to ModerationEvent with who, when, from, to and why, and closes the image's open
reports. Hiding and removing need a reason: the owner is shown it.
"""

from __future__ import annotations

import logging
from functools import partial

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone

from core.models import SiteSettings
from gallery.models import Generation, ModerationEvent, Report
from gallery.services import access, media_cache, pagination, storage

logger = logging.getLogger(__name__)

State = Generation.Moderation
Action = ModerationEvent.Action

# Which states each decision may start from.
_ALLOWED_FROM = {
    Action.APPROVE: {State.PENDING, State.HIDDEN, State.VISIBLE},
    Action.HIDE: {State.VISIBLE, State.PENDING, State.HIDDEN},
    Action.REMOVE: {State.VISIBLE, State.PENDING, State.HIDDEN},
}
_TARGET = {Action.APPROVE: State.VISIBLE, Action.HIDE: State.HIDDEN, Action.REMOVE: State.REMOVED}
REASON_MAX = 300


# --- Decisions ------------------------------------------------------------------------------


def approve(generation: Generation, *, actor: User, reason: str = "") -> ModerationEvent:
    """Make the image visible again (from pending: approved; from hidden: restored)."""
    return decide(generation, Action.APPROVE, actor=actor, reason=reason)


def hide(generation: Generation, *, actor: User, reason: str) -> ModerationEvent:
    """Take the image out of every public view; the owner still sees it, with the reason."""
    return decide(generation, Action.HIDE, actor=actor, reason=reason)


def remove(generation: Generation, *, actor: User, reason: str) -> ModerationEvent:
    """Delete the image files for good (after the decision commits); keep the row and reason."""
    return decide(generation, Action.REMOVE, actor=actor, reason=reason)


def decide(
    generation: Generation, action: str, *, actor: User, reason: str = ""
) -> ModerationEvent:
    """Apply one staff decision, audit it and close the image's open reports."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff can moderate.")
    if action not in _TARGET:
        raise ValidationError("Unknown moderation decision.")
    action = Action(action)
    reason = (reason or "").strip()
    if action != Action.APPROVE and not reason:
        raise ValidationError({"reason": "Give a reason: the owner is shown it."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason to {REASON_MAX} characters."})

    with transaction.atomic():
        # Locked, so that two moderators (or a report) deciding at once are audited in order.
        current = Generation.objects.select_for_update().get(pk=generation.pk)
        if current.moderation not in _ALLOWED_FROM[action]:
            raise ValidationError(
                f"This image is {current.get_moderation_display().lower()}; it can't be "
                f"{Action(action).label.lower()} any more."
            )
        if action == Action.REMOVE and not current.is_finished:
            # Its files do not exist yet: the worker would write them after the removal.
            raise ValidationError(
                "This image is still being made: hide it now, and remove it once it is done."
            )
        if action == Action.APPROVE and current.moderation == State.HIDDEN:
            action = Action.RESTORE
        event = _move(current, action, _TARGET.get(action, State.VISIBLE), actor, reason)
        closed = _close_reports(current, actor, action)
    logger.info(
        "Moderation: %s %s %s -> %s by %s (%d reports closed)",
        current.public_id, action, event.from_state, event.to_state, actor.pk, closed,
    )  # fmt: skip
    _refresh(generation, current)
    return event


def hold(generation: Generation, reason: str) -> ModerationEvent:
    """Put an image into the review queue (the system's decision, audited), e.g. when its
    owner makes it public under pre-moderation. Inside the caller's transaction."""
    return _move(generation, Action.HOLD, State.PENDING, None, reason)


def _move(
    generation: Generation, action: str, to_state: str, actor: User | None, reason: str
) -> ModerationEvent:
    """Update the row's state (and files, for a removal) and append the audit record.
    Must run inside the caller's transaction, with the row locked."""
    from_state = generation.moderation
    now = timezone.now()
    fields = {
        "moderation": to_state,
        "moderation_reason": reason,
        "moderated_by": actor,
        "moderated_at": now,
    }
    if to_state == State.REMOVED:
        names = storage.owned_files(generation)
        # The signed copy's hash stays, like the original's: the record of what left.
        fields.update(dict.fromkeys(Generation.ALL_FILE_FIELDS, ""))
        fields["signed_variant"] = ""
        # Only once the removal is committed: a rolled-back decision keeps its files.
        transaction.on_commit(partial(storage.delete_files, names), robust=True)
    Generation.objects.filter(pk=generation.pk).update(**fields)
    media_cache.access_changed()
    for name, value in fields.items():
        setattr(generation, name, value)
    return ModerationEvent.objects.create(
        generation=generation,
        generation_public_id=generation.public_id,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
    )


def _close_reports(generation: Generation, actor: User, action: str) -> int:
    return Report.objects.filter(generation=generation, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=action
    )


def _refresh(target: Generation, source: Generation) -> None:
    for field in (
        "moderation", "moderation_reason", "moderated_by_id", "moderated_at",
        *Generation.ALL_FILE_FIELDS, "signed_variant",
    ):  # fmt: skip
        setattr(target, field, getattr(source, field))


def history(generation: Generation) -> list[ModerationEvent]:
    return list(ModerationEvent.objects.filter(generation=generation).select_related("actor")[:50])


# --- Reports --------------------------------------------------------------------------------

HOLD_REASON = "Reported by several people; waiting for a moderator's review."


def can_report(user, generation: Generation) -> bool:
    """Signed in, not the owner, and the image is one everyone may see."""
    return (
        user.is_authenticated
        and generation.owner_id != user.pk
        and generation.is_public
        and access.can_view(user, generation)
    )


def has_open_report(user, generation: Generation) -> bool:
    if not user.is_authenticated:
        return False
    return Report.objects.filter(
        generation=generation, reporter=user, resolved_at__isnull=True
    ).exists()


def report(generation: Generation, *, reporter: User, category: str, note: str = "") -> Report:
    """File a report. Once the image has `report_threshold` open reports it is held for
    review (pending) by the system, audited like any decision."""
    if generation.owner_id is not None and generation.owner_id == reporter.pk:
        raise ValidationError("You can't report your own image.")
    if not can_report(reporter, generation):
        raise ValidationError("Only images shown in the public gallery can be reported.")
    if category not in Report.Category.values:
        raise ValidationError({"category": "Choose what is wrong with the image."})
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": "Keep the note to 500 characters."})
    threshold = SiteSettings.load().report_threshold
    try:
        with transaction.atomic():
            current = Generation.objects.select_for_update().get(pk=generation.pk)
            created = Report.objects.create(
                generation=current, reporter=reporter, category=category, note=note
            )
            open_reports = Report.objects.filter(
                generation=current, resolved_at__isnull=True
            ).count()
            # 0 turns automatic holding off.
            if threshold and open_reports >= threshold and current.moderation == State.VISIBLE:
                _move(current, Action.HOLD, State.PENDING, None, HOLD_REASON)
                logger.info("Moderation: %s held after %d reports", current.public_id, open_reports)
    except IntegrityError:
        raise ValidationError("You have already reported this image.") from None
    _refresh(generation, current)
    return created


# --- The review queue -----------------------------------------------------------------------


def queue_page(after: int | None = None, page_size: int = 20) -> pagination.Page[Generation]:
    """Images waiting for a decision: pending ones and those with open reports, oldest
    first, each with `.open_reports`; the cursor (`after`) is the last id shown.

    Two index-backed id lists (pending rows; images with open reports) merged in Python: an
    OR across the two would make the database scan the whole table."""
    pending = Generation.objects.filter(
        moderation=State.PENDING, status=Generation.Status.SUCCEEDED
    )
    reported = Report.objects.filter(resolved_at__isnull=True)
    if after is not None:
        pending = pending.filter(id__gt=after)
        reported = reported.filter(generation_id__gt=after)
    limit = page_size + 1
    candidates = set(pending.order_by("id").values_list("id", flat=True)[:limit])
    candidates |= set(
        reported.order_by("generation_id")
        .values_list("generation_id", flat=True)
        .distinct()[:limit]
    )
    ids = sorted(candidates)[:limit]
    open_reports = Report.objects.filter(resolved_at__isnull=True).select_related("reporter")
    items: list[Generation] = list(
        Generation.objects.filter(id__in=ids)
        .exclude(moderation=State.REMOVED)
        .select_related("owner")
        .prefetch_related(Prefetch("reports", queryset=open_reports, to_attr="open_reports"))
        .order_by("id")
    )
    has_more = len(ids) > page_size
    items = [i for i in items if i.id in set(ids[:page_size])]
    return pagination.Page(items=items, next_cursor=ids[page_size - 1] if has_more else None)
