"""Live pages: the user's work in progress shown at the front of the grid, and the one
query a polling page makes per round to learn what changed."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from gallery.models import Generation
from gallery.services import access, queue

Status = Generation.Status

# How many of a user's unfinished images the grid shows at its front, and for how long a
# failure stays there (after that it is in My history only).
FRONT_MAX = 24
FAILED_SHOWN_FOR = timedelta(hours=1)
# The most tiles one polling round asks about.
ROUND_MAX = 100


def with_places(items: list[Generation]) -> list[Generation]:
    """Give each waiting item its `place` in the queue (None for the others)."""
    places = queue.places(items)
    for item in items:
        item.place = places.get(item.pk)  # type: ignore[attr-defined]
    return items


def in_progress(user: access.AnyUser) -> list[Generation]:
    """The user's images still waiting, running, or failed within the last hour, newest
    first: the tiles at the front of the grid (the owner index; few rows)."""
    recent_failure = timezone.now() - FAILED_SHOWN_FOR
    rows = access.own(user).exclude(status=Status.SUCCEEDED).order_by("-id")[:FRONT_MAX]
    items = [
        item
        for item in rows
        if item.status != Status.FAILED or (item.finished_at or item.created_at) >= recent_failure
    ]
    return with_places(items)


def round_of(user: access.AnyUser, public_ids: list[str]) -> list[Generation]:
    """One polling round: the rows among `public_ids` that `user` may see, as they are now.
    One query on the public id's unique index, whatever the table's size (plus the queue
    snapshot when one of them waits, shared by every page for a few seconds)."""
    wanted = list(dict.fromkeys(p for p in public_ids if p))[:ROUND_MAX]
    if not wanted:
        return []
    return with_places(list(access.viewable(user).filter(public_id__in=wanted)))
