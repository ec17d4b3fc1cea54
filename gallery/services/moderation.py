"""Moderation: staff decisions about images, users' reports, and the review queue.

States (Generation.moderation) and the decisions that move between them:

    visible --hide--> hidden --approve (restore)--> visible
    visible --hold (reports reach the threshold; the system)--> pending
    pending --approve--> visible     pending --hide--> hidden
    any but removed --remove--> removed   (files deleted; the row keeps the reason)

Pre-moderation starts public images in `pending` (see intake.submit). Every decision is
appended to ModerationEvent with who, when, from, to and why, and closes the image's open
reports. Hiding and removing need a reason: the owner is shown it.

The system decides too, always a hold (-> pending), recorded with no actor and its evidence:
reports reaching the threshold, the image scan (a score at or above the hold threshold, or a
scan that failed), and a near-duplicate of an image staff removed. Staff can undo a system
hold: the image goes back to the state it was held from.

The owner of a hidden or removed image may appeal once, with a note; staff grant (a hidden
image is restored; a removed one's files are gone, so the removal is marked overturned and
its hash forgotten) or deny it, with a reason the owner is shown.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.models import SiteSettings
from gallery.models import Appeal, Generation, ModerationEvent, Report
from gallery.services import access, media_cache, pagination, scan, similarity, storage

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
    if action in (Action.GRANT, Action.DENY):
        open_appeal = Appeal.objects.filter(generation=generation, decided_at__isnull=True).first()
        if open_appeal is None:
            raise ValidationError(_("This image has no open appeal."))
        return decide_appeal(open_appeal, grant=action == Action.GRANT, actor=actor, reason=reason)
    if action not in _TARGET:
        raise ValidationError(_("Unknown moderation decision."))
    action = Action(action)
    reason = (reason or "").strip()
    if action != Action.APPROVE and not reason:
        raise ValidationError({"reason": _("Give a reason: the owner is shown it.")})
    if len(reason) > REASON_MAX:
        message = _("Keep the reason to %(most)s characters.") % {"most": REASON_MAX}
        raise ValidationError({"reason": message})

    with transaction.atomic():
        # Locked, so that two moderators (or a report) deciding at once are audited in order.
        current = Generation.objects.select_for_update().get(pk=generation.pk)
        if current.moderation not in _ALLOWED_FROM[action]:
            if action == Action.APPROVE:
                message = _("This image is %(state)s; it can't be approved any more.")
            elif action == Action.HIDE:
                message = _("This image is %(state)s; it can't be hidden any more.")
            else:
                message = _("This image is %(state)s; it can't be removed any more.")
            state = current.get_moderation_display().lower()
            raise ValidationError(message % {"state": state})
        if action == Action.REMOVE and not current.is_finished:
            # Its files do not exist yet: the worker would write them after the removal.
            raise ValidationError(
                _("This image is still being made: hide it now, and remove it once it is done.")
            )
        if action == Action.APPROVE and current.moderation == State.HIDDEN:
            action = Action.RESTORE
        event = _move(current, action, _TARGET.get(action, State.VISIBLE), actor, reason)
        closed = _close_reports(current, actor, action)
        # A decision taken from the queue answers an open appeal too.
        _close_appeal(current, actor, event)
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
    generation: Generation,
    action: str,
    to_state: str,
    actor: User | None,
    reason: str,
    evidence: dict[str, Any] | None = None,
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
        evidence=evidence or {},
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

# Stored as the hold's reason (the database keeps the words): not translated.
HOLD_REASON = gettext_noop("Reported by several people; waiting for a moderator's review.")


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
        raise ValidationError(_("You can't report your own image."))
    if not can_report(reporter, generation):
        raise ValidationError(_("Only images shown in the public gallery can be reported."))
    if category not in Report.Category.values:
        raise ValidationError({"category": _("Choose what is wrong with the image.")})
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": _("Keep the note to 500 characters.")})
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
                categories: dict[str, int] = {}
                for cat in Report.objects.filter(
                    generation=current, resolved_at__isnull=True
                ).values_list("category", flat=True):
                    categories[cat] = categories.get(cat, 0) + 1
                evidence = {
                    "kind": "reports",
                    "open_reports": open_reports,
                    "threshold": threshold,
                    "categories": categories,
                }
                _move(current, Action.HOLD, State.PENDING, None, HOLD_REASON, evidence)
                logger.info("Moderation: %s held after %d reports", current.public_id, open_reports)
    except IntegrityError:
        raise ValidationError(_("You have already reported this image.")) from None
    _refresh(generation, current)
    return created


# --- System decisions at ingest, and undoing them ------------------------------------------


# What the system stores as a hold's reason: fixed English, shown in the reader's language
# (the stored_words filter); a failed scan's error is in the event's evidence, for staff.
NEAR_DUPLICATE_REASON = gettext_noop(
    "Nearly identical to an image a moderator removed; waiting for a moderator's review."
)
SCAN_FAILED_REASON = gettext_noop(
    "The automatic image check did not finish; waiting for a moderator's review."
)
FLAGGED_REASON = gettext_noop(
    "Flagged by the automatic image check; waiting for a moderator's review."
)


@dataclass(frozen=True)
class SystemHold:
    """What the worker holds a new image for, and why (the owner is shown the reason)."""

    reason: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)


def ingest_hold(
    phash: int | None, result: scan.ScanResult | None, site: SiteSettings | None = None
) -> SystemHold | None:
    """Whether a new image is held for review: a near-duplicate of a removed image, a scan
    that failed, or a scan score at or above the site's hold threshold."""
    if phash is not None and (twin := similarity.removed_near_duplicate(phash)):
        return SystemHold(
            NEAR_DUPLICATE_REASON,
            {
                "kind": "near_duplicate",
                "of": twin.generation.public_id,
                "distance": twin.distance,
                "removed_reason": twin.generation.moderation_reason,
            },
        )
    if result is None:
        return None
    if result.error:
        return SystemHold(
            SCAN_FAILED_REASON,
            {"kind": "scan_failed", "error": result.error},
        )
    site = site or SiteSettings.load()
    if result.risk is not None and result.risk >= site.scan_hold_threshold:
        return SystemHold(
            FLAGGED_REASON,
            {
                "kind": "scan",
                "risk": result.risk,
                "threshold": site.scan_hold_threshold,
                "scores": result.scores,
            },
        )
    return None


def apply_ingest_hold(generation_id: int, hold: SystemHold) -> None:
    """Hold a new image, audited as the system's decision. Runs in the worker's commit
    transaction, so the image is never public before it is held; an image staff hid or
    removed meanwhile keeps their decision."""
    current = Generation.objects.select_for_update().get(pk=generation_id)
    if current.moderation in (State.VISIBLE, State.PENDING):
        _move(current, Action.HOLD, State.PENDING, None, hold.reason, hold.evidence)
        logger.info("Moderation: %s held at ingest (%s)", current.public_id, hold.evidence["kind"])


def can_undo(user, event: ModerationEvent) -> bool:
    """Staff may undo a system hold while it is the image's latest decision."""
    if not (user.is_authenticated and user.is_staff and event.is_system and event.generation_id):
        return False
    latest = ModerationEvent.objects.filter(generation_id=event.generation_id).first()
    return latest is not None and latest.pk == event.pk


def undo(event: ModerationEvent, *, actor: User, reason: str = "") -> ModerationEvent:
    """Put the image back in the state the system held it from, audited as an undo; its
    open reports are closed (staff judged them)."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff can moderate.")
    if not event.is_system or event.generation_id is None:
        raise ValidationError(_("Only the system's decisions can be undone here."))
    reason = (reason or "").strip()[:REASON_MAX]
    with transaction.atomic():
        current = Generation.objects.select_for_update().filter(pk=event.generation_id).first()
        latest = ModerationEvent.objects.filter(generation_id=event.generation_id).first()
        if current is None or latest is None or latest.pk != event.pk:
            raise ValidationError(_("A later decision replaced this one: it can't be undone."))
        if current.moderation != event.to_state:
            raise ValidationError(_("The image is no longer held."))
        done = _move(
            current,
            Action.UNDO,
            event.from_state,
            actor,
            reason,
            {"undoes": event.pk, "held_for": event.evidence.get("kind", "")},
        )
        _close_reports(current, actor, Action.UNDO)
    logger.info("Moderation: %s system hold %s undone by %s", current.public_id, event.pk, actor.pk)
    return done


def blurred(viewer, generation: Generation, site: SiteSettings | None = None) -> bool:
    """Whether the image is shown blurred (until clicked): its scan score reached the blur
    threshold, and the viewer is neither its owner nor staff."""
    if generation.scan_risk is None:
        return False
    if viewer.is_authenticated and (viewer.is_staff or generation.owner_id == viewer.pk):
        return False
    threshold = site.scan_blur_threshold if site else _blur_threshold()
    return generation.scan_risk >= threshold


_BLUR_CACHE: dict[str, float] = {}
_BLUR_CACHE_SECONDS = 10.0


def _blur_threshold() -> float:
    """The site's blur threshold, kept for a few seconds: a grid page asks once per tile."""
    now = time.monotonic()
    if now - _BLUR_CACHE.get("at", -1e9) > _BLUR_CACHE_SECONDS:
        _BLUR_CACHE.update(at=now, value=SiteSettings.load().scan_blur_threshold)
    return _BLUR_CACHE["value"]


# --- Appeals --------------------------------------------------------------------------------

APPEAL_NOTE_MAX = 500
APPEALABLE = (State.HIDDEN, State.REMOVED)


def open_appeal(generation: Generation) -> Appeal | None:
    return Appeal.objects.filter(generation=generation, decided_at__isnull=True).first()


def system_hold(generation: Generation) -> ModerationEvent | None:
    """The image's latest decision if it is a system hold that staff may undo."""
    latest = ModerationEvent.objects.filter(generation=generation).first()
    return latest if latest is not None and latest.is_system else None


def appeal_of(generation: Generation) -> Appeal | None:
    return Appeal.objects.filter(generation=generation).select_related("decided_by").first()


def can_appeal(user, generation: Generation) -> bool:
    """The owner of a hidden or removed image, once."""
    return (
        user.is_authenticated
        and generation.owner_id == user.pk
        and generation.moderation in APPEALABLE
        and not Appeal.objects.filter(generation=generation).exists()
    )


def appeal(generation: Generation, *, appellant: User, note: str) -> Appeal:
    """File the owner's one appeal; it joins the review queue."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Say why the decision should change.")})
    if len(note) > APPEAL_NOTE_MAX:
        message = _("Keep the note to %(most)s characters.") % {"most": APPEAL_NOTE_MAX}
        raise ValidationError({"note": message})
    if generation.owner_id != appellant.pk:
        raise PermissionDenied("Only the image's owner can appeal.")
    try:
        with transaction.atomic():
            current = Generation.objects.select_for_update().get(pk=generation.pk)
            if current.moderation not in APPEALABLE:
                raise ValidationError(_("Only a hidden or removed image can be appealed."))
            created = Appeal.objects.create(
                generation=current,
                appellant=appellant,
                note=note,
                appealed_state=current.moderation,
                appealed_reason=current.moderation_reason,
            )
    except IntegrityError:
        raise ValidationError(_("You have already appealed this decision.")) from None
    logger.info("Moderation: %s appealed by %s", generation.public_id, appellant.pk)
    return created


def decide_appeal(appeal: Appeal, *, grant: bool, actor: User, reason: str) -> ModerationEvent:
    """Staff answer an appeal, with a reason the owner is shown, audited in the log."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff can moderate.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason: the owner is shown it.")})
    if len(reason) > REASON_MAX:
        message = _("Keep the reason to %(most)s characters.") % {"most": REASON_MAX}
        raise ValidationError({"reason": message})
    with transaction.atomic():
        current = Generation.objects.select_for_update().get(pk=appeal.generation_id)
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if not locked.is_open:
            raise ValidationError(_("This appeal has already been decided."))
        evidence = {"appeal": locked.pk, "note": locked.note}
        if not grant:
            state, kept = current.moderation, current.moderation_reason
            event = _move(current, Action.DENY, state, actor, kept, evidence)
            event.reason = reason
            event.save(update_fields=["reason"])
        elif current.moderation == State.REMOVED:
            # The files are gone: the removal is marked overturned, and its hash no longer
            # holds near-duplicates (the owner may make the image again).
            note = f"Removal overturned on appeal: {reason}"[:REASON_MAX]
            event = _move(current, Action.GRANT, State.REMOVED, actor, note, evidence)
            Generation.objects.filter(pk=current.pk).update(
                phash=None, phash_band0=None, phash_band1=None, phash_band2=None, phash_band3=None
            )
        else:
            event = _move(current, Action.GRANT, State.VISIBLE, actor, reason, evidence)
        _settle_appeal(locked, actor, grant, reason)
    outcome = "granted" if grant else "denied"
    logger.info("Moderation: appeal %s %s by %s", appeal.pk, outcome, actor.pk)
    appeal.refresh_from_db()
    return event


def _settle_appeal(appeal: Appeal, actor: User, grant: bool, reason: str) -> None:
    appeal.decided_at = timezone.now()
    appeal.decided_by = actor
    appeal.outcome = Appeal.Outcome.GRANTED if grant else Appeal.Outcome.DENIED
    appeal.decision_reason = reason
    appeal.save(update_fields=["decided_at", "decided_by", "outcome", "decision_reason"])


def _close_appeal(generation: Generation, actor: User, event: ModerationEvent) -> None:
    """An ordinary decision about an appealed image answers the appeal: making it visible
    grants it, anything else denies it."""
    open_appeal = Appeal.objects.filter(generation=generation, decided_at__isnull=True).first()
    if open_appeal is not None:
        grant = event.to_state == State.VISIBLE
        _settle_appeal(open_appeal, actor, grant, event.reason or event.get_action_display())


# --- The review queue -----------------------------------------------------------------------

QUEUE_SORTS = ("oldest", "risk")


def queue_page(
    after: int | None = None, page_size: int = 20, sort: str = "oldest"
) -> pagination.Page[Generation]:
    """Images waiting for a decision: pending ones, those with open reports and those with
    an open appeal, each with `.open_reports` and `.open_appeal`. Oldest first, the cursor
    (`after`) being the last id shown; or, with sort="risk", highest scan score first, the
    cursor being the number of items already shown (the queue is short by nature).

    Index-backed id lists (pending rows; images with open reports; open appeals) merged in
    Python: an OR across them would make the database scan the whole table."""
    pending = Generation.objects.filter(
        moderation=State.PENDING, status=Generation.Status.SUCCEEDED
    )
    reported = Report.objects.filter(resolved_at__isnull=True)
    appealed = Appeal.objects.filter(decided_at__isnull=True)
    by_risk = sort == "risk"
    if after is not None and not by_risk:
        pending = pending.filter(id__gt=after)
        reported = reported.filter(generation_id__gt=after)
        appealed = appealed.filter(generation_id__gt=after)
    # By risk every waiting item is ranked; a bound keeps a flooded queue affordable.
    limit = 2000 if by_risk else page_size + 1
    candidates = set(pending.order_by("id").values_list("id", flat=True)[:limit])
    candidates |= set(
        reported.order_by("generation_id")
        .values_list("generation_id", flat=True)
        .distinct()[:limit]
    )
    candidates |= set(
        appealed.order_by("generation_id").values_list("generation_id", flat=True)[:limit]
    )
    if by_risk:
        risks = dict(Generation.objects.filter(id__in=candidates).values_list("id", "scan_risk"))
        ranked = sorted(risks, key=lambda pk: (-(risks[pk] or 0.0), pk))
        start = after or 0
        ids = ranked[start : start + page_size + 1]
        next_cursor = start + page_size if len(ids) > page_size else None
    else:
        ids = sorted(candidates)[: page_size + 1]
        next_cursor = ids[page_size - 1] if len(ids) > page_size else None
    shown = ids[:page_size]
    open_reports = Report.objects.filter(resolved_at__isnull=True).select_related("reporter")
    rows = {
        g.pk: g
        for g in Generation.objects.filter(id__in=shown)
        .select_related("owner")
        .prefetch_related(Prefetch("reports", queryset=open_reports, to_attr="open_reports"))
    }
    waiting = Appeal.objects.filter(generation_id__in=shown, decided_at__isnull=True)
    appeals = {a.generation_id: a for a in waiting}
    holds: dict[int, ModerationEvent] = {}
    for event in ModerationEvent.objects.filter(generation_id__in=shown).order_by("-id"):
        if event.generation_id is not None:
            holds.setdefault(event.generation_id, event)  # each image's latest decision
    items: list[Generation] = []
    for pk in shown:
        item = rows.get(pk)
        # A removed image stays in the queue only while its removal is appealed.
        if item is None or (item.moderation == State.REMOVED and pk not in appeals):
            continue
        # For the template: what waits beside the reports.
        latest = holds.get(pk)
        item.open_appeal = appeals.get(pk)  # type: ignore[attr-defined]
        item.system_hold = latest if latest is not None and latest.is_system else None  # type: ignore[attr-defined]
        items.append(item)
    return pagination.Page(items=items, next_cursor=next_cursor)
