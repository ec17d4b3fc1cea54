"""Live pages benchmark: 50 open pages polling while 4 workers run, at 1,000 and 1,000,000 rows.

What it runs, as production does: the real web server (config/server.py) and 4 real
`gallery_worker` processes against the stand-in endpoint in this process (with a latency,
3 s by default, so images finish throughout), on SQLite or any DATABASE_URL. The table is
loaded to each size with bench/gallery.py's loader, then 50 users each get 4 images queued
(200 in all: the queue never empties during the window).

- **Polling**: 50 threads, one per open page, each signed in as its own user, ask
  `GET /live?ids=<that page's unfinished ids>` every 1.5 s (as static/gallery/js/live.js
  does; a finished id leaves the set) for `--seconds`. Reported: rounds/s served, the
  round's median and p95 as the pages saw it, the web server's CPU per round (utime + stime
  of its process tree from /proc, over the window, divided by the rounds served; includes
  whatever else the server did meanwhile, which is nothing but these rounds), and the SQL of
  one round (CaptureQueriesContext in this process, same code, same database, same ids).
- **Stored -> tile**: a real headless Chromium (Playwright) opens the grid as one more user
  with `--tiles` images queued, while the 50 pages keep polling (their images not yet
  started are cancelled first, or fair turns would give the watcher one image in 51). A
  MutationObserver stamps `Date.now()` when each tile's `<img>` appears; the worker's commit
  time is the row's `finished_at`. Browser, server and workers share this machine's clock
  (one host), so the difference needs no offset. Reported: median and max.

Figures are printed, never asserted. A loaded data set is reused with `--data DIR` (SQLite:
the file in DIR; PostgreSQL: the database, when it already holds the rows).

    .venv/bin/python bench/live.py --sizes 1000 --seconds 20
    .venv/bin/python bench/live.py --data /tmp/live-1m              # 1,000 then 1,000,000
    .venv/bin/python bench/live.py --database-url postgres://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    MACHINE_NOTE,
    Install,
    StandinServer,
    percentile,
    tree_pids,
    wait_until,
)

POLL_INTERVAL = 1.5
PER_PAGE = 4
SECRET = "bench-" + "k" * 50
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=3.0, help="stand-in seconds per image")
    parser.add_argument("--seconds", type=float, default=20.0, help="polling window per size")
    parser.add_argument("--tiles", type=int, default=8, help="tiles watched in the browser")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--data", default=None, help="a data dir to keep and reuse")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():  # before loading a million rows, not after
        print(f"the store-to-tile figure needs Debian's chromium at {CHROMIUM} (apt: chromium)")
        return 2

    standin = StandinServer(("127.0.0.1", 0), latency=args.latency).start()
    install = Install(standin.url, args.database_url, data_dir=args.data, GALLERY_WORKERS="4",
                      GALLERY_DAILY_QUOTA="0", GALLERY_MAX_WAITING="1000")  # fmt: skip
    _django(install)
    from django.db import connection

    print(f"live updates on {connection.vendor}: {args.pages} pages polling every "
          f"{POLL_INTERVAL} s, {args.workers} workers, stand-in {args.latency} s")  # fmt: skip
    print(MACHINE_NOTE)
    try:
        web, url = install.web(workers=1)
        for size in [int(s) for s in args.sizes.split(",")]:
            _one_size(install, web, url, size, args)
    finally:
        install.stop()
        standin.shutdown()
    return 0


def _django(install: Install) -> None:
    """Django in this process on the install's database (to load rows, queue work, open
    sessions and count a round's SQL); the same secret key, so its sessions are valid."""
    for key in ("SECRET_KEY", "DATABASE_URL", "GALLERY_DATA_DIR", "MEDIA_ROOT",
                "SDXL_ENDPOINT_URL", "GALLERY_DAILY_QUOTA", "GALLERY_MAX_WAITING"):  # fmt: skip
        os.environ[key] = install.env[key]
    os.environ.update(GALLERY_ENV_FILE="", DJANGO_SETTINGS_MODULE="config.settings")
    os.environ.update(ALLOWED_HOSTS="127.0.0.1,testserver", LOG_LEVEL="WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _one_size(install: Install, web, url: str, size: int, args) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.gallery import _seed, _shared_thumbnails
    from gallery.models import Generation
    from gallery.services import intake

    # Idle the queue left by an earlier size. Marked failed, not deleted: the loader numbers
    # new rows from the row count.
    idle = Generation.objects.filter(status__in=("queued", "running"))
    idle.update(status="failed", failure_reason="bench", finished_at=timezone.now())
    users = list(User.objects.filter(username__startswith="page").order_by("pk"))
    for n in range(len(users), args.pages + 1):
        users.append(User.objects.create_user(f"page{n}", password="page-password-123"))
    have = Generation.objects.count()
    t0 = time.perf_counter()
    if have < size:
        _seed(have, size - have, users, _shared_thumbnails(), random.Random(size))
        # The loaded queue would be thousands deep; a real one is a few per person.
        idle.update(status="failed", failure_reason="bench", finished_at=timezone.now())
    loaded = f"loaded in {time.perf_counter() - t0:.0f} s" if have < size else "reused"
    print(f"\n{size:,} rows ({loaded})")

    # Workers up (Django loaded, polling the queue) before anything is timed.
    workers = [install.worker() for _ in range(args.workers)]
    watcher, pollers = users[0], users[1 : args.pages + 1]
    pages = []
    for user in pollers:
        ids = [intake.submit(prompt=f"page {user.pk} image {n}", owner=user).public_id
               for n in range(PER_PAGE)]  # fmt: skip
        pages.append((_session(user), ids))

    # One round's SQL, counted in this process (same code, same database, same ids).
    client = Client()
    client.force_login(pollers[0])
    round_url = "/live?ids=" + ",".join(pages[0][1])
    client.get(round_url)
    with CaptureQueriesContext(connection) as queries:
        client.get(round_url)
    sql = queries.captured_queries
    ours = [q for q in sql if "gallery_generation" in q["sql"]]

    if not wait_until(lambda: Generation.objects.filter(status="running").count() >= 2, 120, 0.2):
        print(
            "  the workers had not started 2 images after 120 s: the figures below are without them"
        )
    stop = threading.Event()
    times: list[float] = []
    served = [0]
    lock = threading.Lock()
    threads = [threading.Thread(target=_poll, args=(url, s, ids, stop, times, served, lock),
                                daemon=True) for s, ids in pages]  # fmt: skip
    cpu0, t0 = _cpu(web.pid), time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(args.seconds)
    cpu, wall, rounds = _cpu(web.pid) - cpu0, time.monotonic() - t0, served[0]
    # The browser watches its tiles while the pages keep polling. The pages' images not yet
    # started are cancelled first: in fair turns the watcher would get one image in 51.
    Generation.objects.filter(prompt__startswith="page ", status="queued").delete()
    latencies = _browser(url, _session(watcher), watcher, args.tiles)
    stop.set()
    for thread in threads:
        thread.join(10)
    for proc in workers:
        proc.terminate()
    for proc in workers:
        proc.wait(30)
        install.procs.remove(proc)

    submitted = [i for _, ids in pages for i in ids]
    made = Generation.objects.filter(public_id__in=submitted, status="succeeded").count()
    median, p95 = percentile(times, 50) * 1000, percentile(times, 95) * 1000
    print(f"  polling: {rounds / wall:.1f} rounds/s served ({rounds} in {wall:.0f} s; "
          f"{args.pages / POLL_INTERVAL:.0f}/s asked), round median {median:.1f} ms, "
          f"p95 {p95:.1f} ms")  # fmt: skip
    print(f"  server CPU per round: {cpu / max(rounds, 1) * 1000:.2f} ms "
          f"({cpu / wall:.0%} of one core); SQL per round: {len(sql)} "
          f"({len(ours)} on gallery_generation, the rest session and user)")  # fmt: skip
    print(f"  images made meanwhile: {made}")
    if latencies:
        middle, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
        print(f"  stored -> tile in Chromium ({len(latencies)} tiles): median {middle:.0f} ms, "
              f"max {worst:.0f} ms")  # fmt: skip
    else:
        print("  stored -> tile: no tile changed")


def _session(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _poll(url, session, ids, stop, times, served, lock) -> None:
    """One open page: a round every 1.5 s naming its unfinished tiles, until none is."""
    import requests

    http = requests.Session()
    http.cookies.set("sessionid", session)
    pending = list(ids)
    stop.wait(random.random() * POLL_INTERVAL)  # pages were opened at different moments
    while pending and not stop.is_set():
        t = time.perf_counter()
        answer = http.get(f"{url}/live", params={"ids": ",".join(pending)}, timeout=30)
        took = time.perf_counter() - t
        if answer.ok:
            finished = {i["id"] for i in answer.json()["items"]
                        if i["status"] in ("succeeded", "failed")}  # fmt: skip
            pending = [i for i in pending if i not in finished]
        with lock:
            times.append(took)
            served[0] += 1
        stop.wait(max(0.0, POLL_INTERVAL - took))


def _browser(url: str, session: str, user, tiles: int) -> list[float]:
    """Seconds from each image's commit (finished_at) to its tile's <img> in Chromium."""
    from playwright.sync_api import sync_playwright

    from gallery.models import Generation
    from gallery.services import intake

    ids = [intake.submit(prompt=f"watched {n}", owner=user).public_id for n in range(tiles)]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
        page = context.new_page()
        # Stamped before any script of the page runs, so no change is missed.
        page.add_init_script(
            """window.__seen = {};
            new MutationObserver(() => {
              for (const img of document.querySelectorAll('[id^="t-"] img')) {
                const id = img.closest('[id^="t-"]').id.slice(2);
                if (!(id in window.__seen)) window.__seen[id] = Date.now();
              }
            }).observe(document, {childList: true, subtree: true});"""
        )
        page.goto(url + "/")
        deadline = time.monotonic() + 120
        seen: dict[str, int] = {}
        while time.monotonic() < deadline and len(seen) < len(ids):
            time.sleep(0.5)
            seen = {k: v for k, v in page.evaluate("window.__seen").items() if k in ids}
        browser.close()
    committed = dict(
        Generation.objects.filter(public_id__in=ids, status="succeeded").values_list(
            "public_id", "finished_at"
        )
    )
    return [seen[i] / 1000 - committed[i].timestamp() for i in ids if i in seen and i in committed]


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of the web server's process tree so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


if __name__ == "__main__":
    raise SystemExit(main())
