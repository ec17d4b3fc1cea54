"""The operator's figures: images per day, failures by reason, queue wait and run time,
endpoint latency and rate-limit hits, storage used, the heaviest users against their quotas,
scan and report counts. Read by the staff dashboard and by /metrics.

Finished UTC days come from `DailyFigures`, one row per day, rolled up by the worker's
housekeeping (`roll_up`); a day not rolled up yet (and today, always) is computed live from
the generations finished that day, by the finished_at index; today's finished hours are
kept in the cache for the hour. So a page never writes to the database, and a chart costs a
few rows whatever the size of the gallery.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, FloatField, Func, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from gallery.models import (
    LATENCY_BUCKETS,
    DailyFigures,
    EndpointStat,
    Generation,
    ModerationEvent,
    Report,
)
from gallery.services import queue, quotas

Status = Generation.Status

# Days the charts show, today included.
DAYS = 30


@dataclass
class Day:
    """One day's figures, rolled up or live."""

    day: date
    succeeded: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    wait_p50: float | None = None
    wait_p95: float | None = None
    run_p50: float | None = None
    run_p95: float | None = None
    bytes_added: int = 0
    reports: int = 0
    scanned: int = 0
    held: int = 0
    live: bool = True


def percentiles(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The nearest-rank p50 and p95 of `values`; None when empty."""
    if not values:
        return None, None
    ordered = sorted(values)

    def rank(share: float) -> float:
        return ordered[max(1, math.ceil(share * len(ordered))) - 1]

    return rank(0.5), rank(0.95)


class Seconds(Func):
    """Seconds from the second expression to the first (two datetimes), as a float, reckoned
    by the database (SQLite's julianday is exact to well under a millisecond here)."""

    arity = 2
    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))::float8"
    arg_joiner = " - "

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(", **extra_context,
        )  # fmt: skip


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


@dataclass
class _Tally:
    """What the generations finished in a span of time add up to; two spans add up."""

    succeeded: int = 0
    failed: int = 0
    failures: Counter = field(default_factory=Counter)
    waits: array = field(default_factory=lambda: array("d"))
    runs: array = field(default_factory=lambda: array("d"))
    added: int = 0
    scanned: int = 0

    def __add__(self, other: _Tally) -> _Tally:
        return _Tally(
            self.succeeded + other.succeeded, self.failed + other.failed,
            self.failures + other.failures, self.waits + other.waits, self.runs + other.runs,
            self.added + other.added, self.scanned + other.scanned,
        )  # fmt: skip


def _tally(start: datetime, end: datetime) -> _Tally:
    finished = Generation.objects.filter(finished_at__gte=start, finished_at__lt=end).order_by()
    tally = _Tally()
    # The durations come as numbers from the database: turning four datetimes a row into
    # Python objects was most of the time (1.1 s for a busy day's 45,000 rows on SQLite).
    rows = finished.values_list(
        "status", "failure_code", "byte_size", "scan_risk",
        Seconds("started_at", Coalesce("queued_at", "created_at")),
        Seconds("finished_at", "started_at"),
    )  # fmt: skip
    for status, code, size, risk, wait, run in rows:
        if status == Status.SUCCEEDED:
            tally.succeeded += 1
            tally.added += size or 0
        elif status == Status.FAILED:
            tally.failed += 1
            tally.failures[code or "other"] += 1
        else:
            continue  # re-queued after finishing? not a finished image
        if risk is not None:
            tally.scanned += 1
        if wait is not None and run is not None:  # None: never started
            tally.waits.append(max(0.0, round(wait, 3)))
            tally.runs.append(max(0.0, round(run, 3)))
    return tally


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _tally_today(start: datetime, end: datetime) -> _Tally:
    """Today's tally: its finished hours kept in the cache for the hour (a finished hour's
    rows do not change: finished_at is the moment they finished), plus this hour's rows.
    A busy day (45,000 rows by noon at one image a second) otherwise costs 200 ms a page."""
    hour = _hour(timezone.now())
    if not start < hour < end:
        return _tally(start, end)
    key = f"gallery:dashboard-hours:{start.isoformat()}:{hour.isoformat()}"
    done = cache.get(key)
    if done is None:
        done = _tally(start, hour)
        cache.set(key, done, 3600)
    return done + _tally(hour, end)


def compute_day(day: date) -> Day:
    """The figures of one UTC day from the rows themselves (the generations that finished
    that day, the reports and holds made that day)."""
    start, end = _bounds(day)
    tally = _tally_today(start, end) if day == timezone.localdate() else _tally(start, end)
    wait_p50, wait_p95 = percentiles(tally.waits)
    run_p50, run_p95 = percentiles(tally.runs)
    return Day(
        day=day,
        succeeded=tally.succeeded,
        failed=tally.failed,
        failures=dict(tally.failures),
        wait_p50=wait_p50,
        wait_p95=wait_p95,
        run_p50=run_p50,
        run_p95=run_p95,
        bytes_added=tally.added,
        reports=Report.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        scanned=tally.scanned,
        held=ModerationEvent.objects.filter(
            action=ModerationEvent.Action.HOLD, created_at__gte=start, created_at__lt=end
        ).count(),
    )


def _from_row(row: DailyFigures) -> Day:
    return Day(
        day=row.day,
        succeeded=row.succeeded,
        failed=row.failed,
        failures=dict(row.failures),
        wait_p50=row.wait_p50,
        wait_p95=row.wait_p95,
        run_p50=row.run_p50,
        run_p95=row.run_p95,
        bytes_added=row.bytes_added,
        reports=row.reports,
        scanned=row.scanned,
        held=row.held,
        live=False,
    )


def stored_bytes(before: datetime | None = None) -> int:
    """Bytes of the originals kept (finished before `before`): a scan of every row, so the
    roll-up asks, and pages only while nothing is rolled up yet."""
    kept = Generation.objects.with_image()
    if before is not None:
        kept = kept.filter(finished_at__lt=before)
    return kept.aggregate(total=Sum("byte_size"))["total"] or 0


def roll_up(today: date | None = None, days: int = DAYS) -> int:
    """Store the figures of each finished day of the last `days` that has none yet; the
    worker's housekeeping calls it. Returns how many days were stored. Two workers doing it
    at once store each day once (the day is unique; the loser's insert is skipped)."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    have = set(DailyFigures.objects.filter(day__gte=first).values_list("day", flat=True))
    missing = [first + timedelta(days=n) for n in range(days - 1)]
    missing = [day for day in missing if day not in have]
    if not missing:
        return 0
    for day in missing:
        figures = compute_day(day)
        row = DailyFigures(
            day=day,
            succeeded=figures.succeeded,
            failed=figures.failed,
            failures=figures.failures,
            wait_p50=figures.wait_p50,
            wait_p95=figures.wait_p95,
            run_p50=figures.run_p50,
            run_p95=figures.run_p95,
            bytes_added=figures.bytes_added,
            stored_bytes=stored_bytes(before=_bounds(day)[1]),
            reports=figures.reports,
            scanned=figures.scanned,
            held=figures.held,
        )
        DailyFigures.objects.bulk_create([row], ignore_conflicts=True)
    return len(missing)


def days(today: date | None = None, count: int = DAYS) -> list[Day]:
    """The last `count` days, oldest first: rolled-up rows where there are, live otherwise."""
    today = today or timezone.localdate()
    first = today - timedelta(days=count - 1)
    rolled = {row.day: row for row in DailyFigures.objects.filter(day__gte=first, day__lt=today)}
    result = []
    for n in range(count):
        day = first + timedelta(days=n)
        result.append(_from_row(rolled[day]) if day in rolled else compute_day(day))
    return result


# --- The endpoint ----------------------------------------------------------------------------

RATE_LIMITED = "endpoint_rate_limited"


def _bucket(seconds: float) -> int:
    for index, bound in enumerate(LATENCY_BUCKETS):
        if seconds <= bound:
            return index
    return len(LATENCY_BUCKETS)


def record_call(endpoint: str, outcome: str, seconds: float) -> None:
    """Count one call to the endpoint (`outcome`: "ok" or the failure code) that took
    `seconds`. The row is locked while its histogram changes, so workers never lose a call."""
    today = timezone.localdate()
    with transaction.atomic():
        EndpointStat.objects.bulk_create(
            [EndpointStat(day=today, endpoint=endpoint[:100], outcome=outcome[:32])],
            ignore_conflicts=True,
        )
        stat = EndpointStat.objects.select_for_update().get(
            day=today, endpoint=endpoint[:100], outcome=outcome[:32]
        )
        buckets = list(stat.buckets) or [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[_bucket(seconds)] += 1
        EndpointStat.objects.filter(pk=stat.pk).update(
            calls=F("calls") + 1, seconds_total=F("seconds_total") + seconds, buckets=buckets
        )


@dataclass
class EndpointFigures:
    endpoint: str
    calls: int
    errors: int
    rate_limited: int
    p50: float | None  # seconds: the upper bound of the bucket the percentile falls in
    p95: float | None
    mean: float | None


def _bucket_percentile(buckets: list[int], share: float) -> float | None:
    total = sum(buckets)
    if not total:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return LATENCY_BUCKETS[index] if index < len(LATENCY_BUCKETS) else math.inf
    return math.inf


def endpoint_stats(since: date | None = None) -> list[EndpointFigures]:
    """Per endpoint, since `since` (default: the charts' window): calls, errors, 429s and
    latency percentiles from the histogram."""
    since = since or timezone.localdate() - timedelta(days=DAYS - 1)
    merged: dict[str, dict] = {}
    for stat in EndpointStat.objects.filter(day__gte=since):
        entry = merged.setdefault(
            stat.endpoint,
            {"calls": 0, "errors": 0, "limited": 0, "seconds": 0.0,
             "buckets": [0] * (len(LATENCY_BUCKETS) + 1)},
        )  # fmt: skip
        entry["calls"] += stat.calls
        entry["seconds"] += stat.seconds_total
        if stat.outcome != "ok":
            entry["errors"] += stat.calls
        if stat.outcome == RATE_LIMITED:
            entry["limited"] += stat.calls
        for index, count in enumerate(stat.buckets):
            entry["buckets"][index] += count
    return [
        EndpointFigures(
            endpoint=name,
            calls=e["calls"],
            errors=e["errors"],
            rate_limited=e["limited"],
            p50=_bucket_percentile(e["buckets"], 0.5),
            p95=_bucket_percentile(e["buckets"], 0.95),
            mean=e["seconds"] / e["calls"] if e["calls"] else None,
        )
        for name, e in sorted(merged.items())
    ]


# --- Users, storage, moderation --------------------------------------------------------------


@dataclass
class HeavyUser:
    username: str
    last_day: int  # images asked for in the last 24 hours
    quota: quotas.QuotaStatus | None  # None: no limits apply (staff)

    @property
    def share(self) -> float | None:
        """Of the daily quota used, 0..1, or None without a quota."""
        if not self.quota or not self.quota.daily_limit:
            return None
        used = self.quota.daily_limit - (self.quota.remaining_today or 0)
        return min(1.0, used / self.quota.daily_limit)


def _owners(start: datetime, end: datetime | None = None) -> Counter:
    asked = Generation.objects.filter(created_at__gte=start, owner__isnull=False)
    if end is not None:
        asked = asked.filter(created_at__lt=end)
    # No ORDER BY (the model's is -id): with one, SQLite reads the table along the key.
    return Counter(asked.order_by().values_list("owner", flat=True))


def heaviest(limit: int = 10) -> list[HeavyUser]:
    """The users who asked for the most images in the last 24 hours, with their quota.
    Counted here from the owner ids (the created_at index): grouping by owner in SQL lets
    SQLite walk the whole table along the owner index instead (1.5 s at 1,000,000). The
    full hours between are counted once an hour and kept in the cache, as today's are."""
    now = timezone.now()
    since = now - timedelta(days=1)
    first, this = _hour(since) + timedelta(hours=1), _hour(now)
    key = f"gallery:dashboard-owners:{first.isoformat()}"
    kept = cache.get(key)
    if kept is None:
        kept = _owners(first, this)
        cache.set(key, kept, 3600)
    counts = _owners(since, first) + kept + _owners(this)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    users = get_user_model().objects.in_bulk([owner for owner, _ in top])
    return [
        HeavyUser(users[owner].get_username(), n, quotas.quota_status(users[owner]))
        for owner, n in top
    ]


@dataclass
class Overview:
    days: list[Day]
    endpoints: list[EndpointFigures]
    heaviest: list[HeavyUser]
    depth: queue.Depth
    stored_bytes: int
    open_reports: int
    pending_review: int

    @property
    def failures(self) -> list[tuple[str, int]]:
        """Failure codes over the window, most frequent first."""
        total: dict[str, int] = {}
        for day in self.days:
            for code, n in day.failures.items():
                total[code] = total.get(code, 0) + n
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))


def overview(today: date | None = None) -> Overview:
    """Everything the dashboard shows."""
    window = days(today)
    latest = DailyFigures.objects.order_by("-day").first()
    if latest is None:
        stored = stored_bytes()
    else:
        # Kept at the end of the last rolled-up day, plus what was stored since (files
        # deleted since then are counted from the next roll-up on).
        stored = latest.stored_bytes + sum(d.bytes_added for d in window if d.day > latest.day)
    depth = queue.depth()
    return Overview(
        days=window,
        endpoints=endpoint_stats(),
        heaviest=heaviest(),
        depth=depth,
        stored_bytes=stored,
        open_reports=Report.objects.filter(resolved_at__isnull=True).count(),
        pending_review=Generation.objects.filter(moderation=Generation.Moderation.PENDING).count(),
    )
