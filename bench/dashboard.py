"""Dashboard benchmark: each of the operator's figures on a table of N generations.

Seeds N generations with bulk_create (one second apart, so 1,000,000 rows span about
eleven and a half days; 1 in 40 failed, 1 in 200 queued, 100 owners), then times,
median of --runs: the 30 days before any roll-up (each day computed from its rows), the
roll-up itself (once), the 30 days after it (29 rows and today), today alone,
the endpoint figures, the heaviest users, the queue depth and the whole page's figures.

    .venv/bin/python bench/dashboard.py --rows 1000
    .venv/bin/python bench/dashboard.py --rows 1000000 \
        --database-url postgres://postgres@127.0.0.1:5432/bench_dash
"""

from __future__ import annotations

import argparse
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


def _seed(rows: int) -> None:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from gallery.models import Generation

    if Generation.objects.count() >= rows:
        return
    owners = User.objects.bulk_create(
        [User(username=f"bench-{i}", password="!") for i in range(100)]
    )
    now = timezone.now()
    batch = []
    for n in range(rows):
        status = "failed" if n % 40 == 7 else "queued" if n % 200 == 3 else "succeeded"
        batch.append(Generation(
            public_id=f"b{n:011}", prompt=f"bench {n}", owner=owners[n % 100], status=status,
            failure_reason="down" if status == "failed" else "",
            original="originals/b.jpg" if status == "succeeded" else "",
            sha256="0" * 64 if status == "succeeded" else "",
        ))  # fmt: skip
        if len(batch) == 5000 or n == rows - 1:
            Generation.objects.bulk_create(batch)
            batch = []
    # created_at is auto_now_add: spread it afterwards, one second per row, newest now.
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE gallery_generation SET created_at = %s - make_interval(secs => "
                "(SELECT max(id) FROM gallery_generation) - id)",
                [now],
            )
        else:
            cursor.execute(
                "UPDATE gallery_generation SET created_at = "
                "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, "
                "'-' || ((SELECT max(id) FROM gallery_generation) - id) || ' seconds')",
                [now.strftime("%Y-%m-%d %H:%M:%S")],
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gallery-bench-dash-"))
    try:
        setup_django(tmp, args.database_url, test_environment=True)
        from django.db import connection

        _seed(args.rows)

        from gallery.models import DailyFigures, Generation
        from gallery.services import dashboard, queue

        t0 = time.perf_counter()
        if connection.vendor == "postgresql":
            later = "created_at + make_interval(secs => id % 30)"
            end = "created_at + make_interval(secs => id % 30 + 5 + id % 7)"
        else:
            later = "datetime(created_at, '+' || (id % 30) || ' seconds')"
            end = "datetime(created_at, '+' || (id % 30 + 5 + id % 7) || ' seconds')"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE gallery_generation SET queued_at = created_at, started_at = {later}, "
                f"finished_at = {end}, byte_size = 400000 + id % 1000, "
                "failure_code = CASE WHEN status = 'failed' THEN 'endpoint_timeout' ELSE '' END "
                "WHERE status <> 'queued' AND finished_at IS NULL"
            )
        for outcome, seconds in (("ok", 3.1), ("ok", 4.2), ("endpoint_rate_limited", 0.2)):
            dashboard.record_call("bench", outcome, seconds)
        print(f"{connection.vendor}, {Generation.objects.count():,} generations "
              f"(times set in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
        DailyFigures.objects.all().delete()
        _timed("30 days, nothing rolled up", dashboard.days, args.runs)
        _timed("roll-up (once)", dashboard.roll_up, 1)
        _timed("30 days, rolled up", dashboard.days, args.runs)
        today = dashboard.timezone.localdate()
        _timed("today alone (live)", lambda: dashboard.compute_day(today), args.runs)
        _timed("endpoint figures", dashboard.endpoint_stats, args.runs)
        _timed("heaviest users (24 h)", dashboard.heaviest, args.runs)
        _timed("queue depth", queue.depth, args.runs)
        _timed("the whole page's figures", dashboard.overview, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
