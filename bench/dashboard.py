"""Dashboard benchmark: each of the operator's figures on a table of N generations.

Loads N generations with bench/gallery.py's loader (COPY on PostgreSQL, executemany on
SQLite; 97% succeeded, 2% failed, 1% queued), then spaces them --spacing seconds apart,
the newest now: 30 s (the default) puts 2,880 images in each day, so 1,000,000 rows span
347 days; 1 s puts 86,400 in each, a very busy day. Then times, median of --runs: the 30
days before any roll-up (each day computed from its rows), the roll-up itself (once), the
30 days after it (29 rows and today), today alone (with its finished hours computed, as
the hour's first page does, and then kept), the endpoint figures, the heaviest
users, the queue depth and the whole page's figures.

    .venv/bin/python bench/dashboard.py --rows 1000
    .venv/bin/python bench/dashboard.py --rows 1000000 --spacing 1
    .venv/bin/python bench/dashboard.py --rows 1000000 \
        --database-url postgres://postgres@127.0.0.1:5432/bench_dash
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import setup_django


def _timed(label: str, fn, runs: int) -> None:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{label:<34} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms")


def _seed(rows: int, spacing: int) -> None:
    """Load the rows (if the table has fewer), then give them the dashboard's times: one
    every `spacing` seconds up to now, queued 0-29 s before starting, running 5-11 s."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from bench.gallery import _seed as load
    from gallery.models import Generation

    have = Generation.objects.count()
    if have < rows:
        users = list(User.objects.filter(username__startswith="bench-"))
        users = users or User.objects.bulk_create(
            [User(username=f"bench-{i}", password="!") for i in range(100)]
        )
        load(have, rows - have, users, ("t/a.webp", "t/b.webp"), random.Random(rows))
    now = timezone.now()
    if connection.vendor == "postgresql":
        created = "%s - make_interval(secs => ((SELECT max(id) FROM gallery_generation) - id) * %s)"
        later = "created_at + make_interval(secs => id % 30)"
        end = "created_at + make_interval(secs => id % 30 + 5 + id % 7)"
        args = [now, spacing]
    else:
        created = (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || "
            "(((SELECT max(id) FROM gallery_generation) - id) * %s) || ' seconds')"
        )
        later = "datetime(created_at, '+' || (id % 30) || ' seconds')"
        end = "datetime(created_at, '+' || (id % 30 + 5 + id % 7) || ' seconds')"
        args = [now.strftime("%Y-%m-%d %H:%M:%S"), spacing]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE gallery_generation SET created_at = {created}", args)
        cursor.execute(
            f"UPDATE gallery_generation SET queued_at = created_at, started_at = {later}, "
            f"finished_at = {end}, byte_size = 400000 + id % 1000, "
            "failure_code = CASE WHEN status = 'failed' THEN 'endpoint_timeout' ELSE '' END "
            "WHERE status <> 'queued'"
        )
        # VACUUM on PostgreSQL, as autovacuum would after such an update: without it, every
        # row read through an index is fetched from the table (the queue depth: 99 vs 14 ms).
        if connection.vendor == "sqlite":
            cursor.execute("ANALYZE")
        else:
            cursor.execute("VACUUM ANALYZE gallery_generation")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spacing", type=int, default=30, help="seconds between two images")
    parser.add_argument("--database-url")
    parser.add_argument("--data", type=Path, help="keep the SQLite file here, for a re-run")
    args = parser.parse_args()
    tmp = args.data or Path(tempfile.mkdtemp(prefix="gallery-bench-dash-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        setup_django(tmp, args.database_url, test_environment=True)
        from django.db import connection

        t0 = time.perf_counter()
        _seed(args.rows, args.spacing)

        from django.core.cache import cache

        from gallery.models import DailyFigures, Generation
        from gallery.services import dashboard, queue

        for outcome, seconds in (("ok", 3.1), ("ok", 4.2), ("endpoint_rate_limited", 0.2)):
            dashboard.record_call("bench", outcome, seconds)
        print(f"{connection.vendor}, {Generation.objects.count():,} generations "
              f"{args.spacing} s apart (loaded in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
        DailyFigures.objects.all().delete()
        _timed("30 days, nothing rolled up", dashboard.days, args.runs)
        _timed("roll-up (once)", dashboard.roll_up, 1)
        _timed("30 days, rolled up", dashboard.days, args.runs)
        today = dashboard.timezone.localdate()
        _timed(
            "today, the hour's first page",
            lambda: (cache.clear(), dashboard.compute_day(today)),
            args.runs,
        )
        _timed("today alone (live)", lambda: dashboard.compute_day(today), args.runs)
        _timed("endpoint figures", dashboard.endpoint_stats, args.runs)
        _timed("heaviest users (24 h)", dashboard.heaviest, args.runs)
        _timed("queue depth", queue.depth, args.runs)
        _timed("the whole page's figures", dashboard.overview, args.runs)
    finally:
        if not args.data:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
