"""Live pages benchmark: what do the grid's live updates cost, at 1,000 and 1,000,000 rows?

A page with live tiles polls `GET /live?ids=...` every 1.5 s while one of its tiles is
unfinished (static/gallery/js/live.js), naming only its unfinished tiles. This times,
in-process through Django's test client (server time: routing, the query, rendering the
tiles; no network), one round for a page with 4 unfinished tiles (2 queued, 2 running), and
the worst case of a round naming 48 tiles, at each table size:

- the median and p95 of a round, the SQL statements per round (and how many touch the
  generations table), and the CPU seconds per round;
- what 50 open pages polling every 1.5 s ask of one web process: 50 / 1.5 = 33 rounds/s
  against the rounds/s one process can serve (1 / CPU per round);
- the time from an image being stored to its tile changing: one polling interval at worst
  (0.75 s on average) plus a round, computed from the figures above (not measured in a
  browser here; tests/test_browser_studio.py watches tiles change without a reload).

The queue snapshot behind the queued tiles' estimate is cached 2 s per process, so most
rounds reuse it; the figures include that. Workers are not running during the timing (they
write rows; the round reads by primary key and public id, which their writes do not slow on
PostgreSQL; on SQLite a writer holds the lock for the few milliseconds of a commit).
Figures are printed, never asserted.

    .venv/bin/python bench/live.py                      # SQLite, 1,000 and 1,000,000 rows
    .venv/bin/python bench/live.py --sizes 1000,100000 --requests 200
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gallery import _ms, _seed, _shared_thumbnails
from bench.harness import setup_django

POLL_INTERVAL = 1.5
PAGES = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gallery-live-bench-"))
    try:
        setup_django(tmp, args.database_url)
        return _bench([int(s) for s in args.sizes.split(",")], args.requests)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(sizes: list[int], requests: int) -> int:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from gallery.models import Generation

    users = [User.objects.create_user(f"bench{n}") for n in range(20)]
    me = users[0]
    client = Client()
    client.force_login(me)
    rng = random.Random(1)
    print(f"live updates benchmark on {connection.vendor}; {requests} rounds per size")
    for size in sizes:
        have = Generation.objects.count()
        t0 = time.perf_counter()
        _seed(have, size - have, users, _shared_thumbnails(), rng)
        # The seeded queue would be thousands deep; a real one is a few per person.
        Generation.objects.filter(status__in=("queued", "running")).update(
            status="failed", failure_reason="bench"
        )
        print(f"\nseeded to {size:,} rows in {time.perf_counter() - t0:.1f} s")
        done = list(
            Generation.objects.filter(owner=me, status="succeeded")
            .order_by("-id")
            .values_list("public_id", flat=True)[:44]
        )
        now = timezone.now()
        pending = [
            Generation.objects.create(prompt=f"live {n}", owner=me, queued_at=now).public_id
            for n in range(2)
        ] + [
            Generation.objects.create(
                prompt=f"live {n}", owner=me, status="running", started_at=now
            ).public_id
            for n in range(2)
        ]
        for label, ids in (("4 unfinished tiles", pending), ("48 tiles (worst)", pending + done)):
            url = "/live?ids=" + ",".join(ids)
            assert client.get(url).status_code == 200
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            sql = queries.captured_queries
            ours = [q for q in sql if "gallery_generation" in q["sql"]]
            for _ in range(10):
                client.get(url)
            times, cpu0 = [], time.process_time()
            for _ in range(requests):
                t = time.perf_counter()
                client.get(url)
                times.append(time.perf_counter() - t)
            cpu = (time.process_time() - cpu0) / requests
            median, p95 = _ms(times, 50), _ms(times, 95)
            print(f"  round, {label}: median {median:.2f} ms, p95 {p95:.2f} ms, "
                  f"CPU {cpu * 1000:.2f} ms; SQL {len(sql)} ({len(ours)} on gallery_generation, "
                  "the rest session and user)")  # fmt: skip
            need = PAGES / POLL_INTERVAL
            print(f"    {PAGES} pages every {POLL_INTERVAL} s = {need:.0f} rounds/s = "
                  f"{need * cpu:.0%} of one core (one process: ~{1 / cpu:.0f} rounds/s); "
                  f"stored -> tile: ~{POLL_INTERVAL / 2 * 1000 + median:.0f} ms on average, "
                  f"{POLL_INTERVAL * 1000 + p95:.0f} ms at worst (+ network)")  # fmt: skip
        Generation.objects.filter(public_id__in=pending).delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
