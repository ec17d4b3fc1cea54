"""The queue: which job runs next (fair between people), cancelling a job that has not
started, and an honest estimate of when a waiting job will start.

Fairness: the Generation rows decide, not the task table's order (a task is a wake-up; the
worker's claim picks the job). Owners take turns: the owner whose last image started longest
ago (or never) goes next, with their oldest waiting image. So while A has twenty images
waiting, B's one new image is the next to start once a worker is free.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery.models import Generation
from gallery.services import endpoint, pacing

Status = Generation.Status


def fair_order() -> list[int]:
    """The ids of the next job of each owner with work waiting, in the order they should
    start: whose last image started longest ago first (never started: first of all), then
    whoever has waited longest. One query over the queued rows only (the (status, -id)
    index), each with its owner's last start by the (owner, started_at) index: grouping by
    owner in SQL instead lets SQLite walk the whole table by the owner index (1.2 s at
    1,000,000 rows, for every claim and every queue snapshot)."""
    last_start = (
        Generation.objects.filter(owner=OuterRef("owner"), started_at__isnull=False)
        .order_by("-started_at")
        .values("started_at")[:1]
    )
    queued = (
        Generation.objects.filter(status=Status.QUEUED)
        .order_by("id")
        .annotate(last=Subquery(last_start))
        .values_list("owner", "id", "last")
    )
    heads: dict[int | None, tuple[int, datetime | None]] = {}
    for owner, pk, last in queued:
        heads.setdefault(owner, (pk, last))  # the first by id is the owner's head
    if None in heads:
        # Work without an owner (the command line's) takes turns too: `owner = NULL` matches
        # nothing in the subquery, so look its last start up apart.
        last = (
            Generation.objects.filter(owner__isnull=True, started_at__isnull=False)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        heads[None] = (heads[None][0], last)
    never = timezone.now().replace(year=1)
    order = sorted(heads.values(), key=lambda head: (head[1] or never, head[0]))
    return [pk for pk, _ in order]


@dataclass(frozen=True)
class Depth:
    queued: int
    running: int
    oldest_queued_seconds: float  # 0 when nothing waits


def depth() -> Depth:
    """How long the queue is now: one aggregate over the queued and running rows (the
    status index). Asked by /healthz, the dashboard and /metrics."""
    row = Generation.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).aggregate(
        queued=Count("pk", filter=Q(status=Status.QUEUED)),
        running=Count("pk", filter=Q(status=Status.RUNNING)),
        oldest=Min("queued_at", filter=Q(status=Status.QUEUED)),
    )
    oldest = row["oldest"]
    age = round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0.0
    return Depth(queued=row["queued"], running=row["running"], oldest_queued_seconds=age)


def cancel(generation: Generation) -> bool:
    """Take a job that has not started out of the queue (it is deleted: no image, nothing to
    keep). False if it had started or finished meanwhile. A worker's claim and this delete
    are both conditional on the row being queued, so exactly one of them wins: a cancelled
    job never reaches the endpoint. Who may cancel is `access.can_manage`'s question."""
    deleted, _by_model = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).delete()
    return bool(deleted)


# --- The estimate ------------------------------------------------------------------------

# Finished images whose time per image makes the estimate's median.
RECENT = 20
# The queue snapshot is shared by every page polling within this many seconds.
SNAPSHOT_SECONDS = 2.0
# Seconds per image assumed before any image has been made here.
DEFAULT_SECONDS = 15.0


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands: how many start before it, and about when it starts."""

    ahead: int
    starts_in: float  # seconds, an estimate

    @property
    def starts_in_words(self) -> str:
        seconds = self.starts_in
        if seconds < 5:
            return _("any moment")
        if seconds < 60:
            return _("in about %(seconds)s s") % {"seconds": math.ceil(seconds / 5) * 5}
        return _("in about %(minutes)s min") % {"minutes": math.ceil(seconds / 60)}


@dataclass(frozen=True)
class Snapshot:
    """The queue as the estimate sees it: waiting ids by owner (oldest first), turn order,
    what runs, and the pace."""

    waiting: dict[int | None, list[int]]
    turns: list[int | None]
    running: int
    seconds_per_image: float
    workers: int
    min_interval: float  # the endpoint's rate limit, as seconds between calls

    @property
    def interval(self) -> float:
        """Seconds between two images starting, once the queue is moving."""
        return max(self.seconds_per_image / max(1, self.workers), self.min_interval)

    def place(self, generation: Generation) -> Place | None:
        mine = self.waiting.get(generation.owner_id, [])
        if generation.pk not in mine:
            return None
        round_ = mine.index(generation.pk)  # owners take turns: it starts in this round
        ahead = round_
        turn = self.turns.index(generation.owner_id) if generation.owner_id in self.turns else 0
        for position, owner in enumerate(self.turns):
            if owner == generation.owner_id:
                continue
            # Everyone else's images of the earlier rounds, and of this round if their turn
            # comes first.
            ahead += min(len(self.waiting[owner]), round_ + (1 if position < turn else 0))
        free = max(0, self.workers - self.running)
        if ahead < free:
            return Place(ahead=ahead, starts_in=0.0)
        # Each image ahead past the free workers waits for one to finish; a running one is
        # on average half-way through.
        waits = ahead - free + 1
        return Place(ahead=ahead, starts_in=self.interval * (waits - 0.5))


def seconds_per_image() -> float:
    """The median time from start to finish of the most recent images made here."""
    # The last RECENT done, by the (status, -id) index; rows without a start time (imported)
    # are skipped here rather than in SQL, which would walk the index past all of them.
    recent = (
        Generation.objects.filter(status=Status.SUCCEEDED)
        .order_by("-id")
        .values_list("started_at", "finished_at")[:RECENT]
    )
    times = [
        (end - start).total_seconds() for start, end in recent if start and end and end >= start
    ]
    return statistics.median(times) if times else DEFAULT_SECONDS


def snapshot() -> Snapshot:
    """The queue now, from the queued and running rows only (few, by the status index),
    shared for SNAPSHOT_SECONDS by every page that asks."""
    cached = cache.get("gallery:queue-snapshot")
    if cached is not None:
        return cached
    waiting: dict[int | None, list[int]] = {}
    for pk, owner in (
        Generation.objects.filter(status=Status.QUEUED).order_by("id").values_list("id", "owner")
    ):
        waiting.setdefault(owner, []).append(pk)
    heads = fair_order() if waiting else []
    head_owner = {ids[0]: owner for owner, ids in waiting.items()}
    running = Generation.objects.filter(status=Status.RUNNING).count()
    rate = pacing.rate_per_minute(endpoint.EndpointConfig.from_settings())
    result = Snapshot(
        waiting=waiting,
        turns=[head_owner[pk] for pk in heads if pk in head_owner],
        running=running,
        seconds_per_image=seconds_per_image(),
        workers=max(1, settings.GALLERY_WORKERS, running),
        min_interval=60 / rate if rate else 0.0,
    )
    cache.set("gallery:queue-snapshot", result, SNAPSHOT_SECONDS)
    return result


def places(generations: list[Generation]) -> dict[int, Place]:
    """The place of each waiting job among `generations`, by id (no query when none waits)."""
    queued = [g for g in generations if g.status == Status.QUEUED]
    if not queued:
        return {}
    snap = snapshot()
    found = {g.pk: snap.place(g) for g in queued}
    return {pk: place for pk, place in found.items() if place is not None}
