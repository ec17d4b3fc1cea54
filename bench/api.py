"""API benchmark: what the gallery adds to a synchronous image call, and what the JSON API's
list costs on a large table. Figures are printed, never asserted.

1. Overhead of the drop-in APIs. The offline stand-in endpoint (latency 0) runs in this
   process; a real installation runs beside it (uvicorn via config/server.py, 2
   processes, one `manage.py gallery_worker`, its own database and media root,
   quotas and per-address rate off, a user with a token from `manage.py issue_token`). The
   same request is sent straight to the stand-in ("direct") and through the gallery, which
   authenticates the token, records the generation, calls the stand-in, verifies the image,
   makes its thumbnails and preview, stores them and answers:

   - `POST /api/text2image` (the image's bytes back), and
   - `POST /v1/images/generations` with `response_format: b64_json` (base64 in JSON),

   first sequentially (direct and gallery calls alternate, so both see the same machine),
   then from 4 concurrent clients (a direct phase, then a gallery phase). It prints median and
   p95 wall time, "gallery - direct" and the ratio, and the app's image work per call timed
   on its own (verify, thumbnails, preview, average colour), which is most of the difference.

2. The JSON API's list at scale. The table is seeded as bench/gallery.py seeds it (its own
   seeding code; 100,000 then 1,000,000 rows by default), then `GET /api/v1/generations`
   (first page, a deep page by cursor, a search) and the web grid's same page are timed
   through Django's test client (server time, no network), anonymous, with the grid's page
   size: median and p95 ms, SQL queries per request, and whether both list the same images.

Run from the repository root:

    .venv/bin/python bench/api.py                    # SQLite; 2-4 minutes on 2 cores
    .venv/bin/python bench/api.py --calls 20 --only overhead
    .venv/bin/python bench/api.py --only list --sizes 100000
    .venv/bin/python bench/api.py --database-url postgres://postgres@127.0.0.1:5432/bench_api

With --database-url the database must be empty and yours alone (create one for it): both
parts migrate it and fill it; drop it afterwards.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from harness import MACHINE_NOTE, Install, StandinServer, percentile, setup_django

CLIENTS = 4
WARMUP = 5
PROMPT = "a lighthouse on a rocky coast at sunset, dramatic clouds, highly detailed"
# Quotas, in-flight limit and per-address rate off: the bench sends hundreds of calls.
NO_LIMITS = {"GALLERY_DAILY_QUOTA": "0", "GALLERY_MAX_WAITING": "0", "GALLERY_SUBMIT_RATE": "0"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__[__doc__.index("Run from") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--calls", type=int, default=50, help="sequential calls per series (default 50)"
    )
    parser.add_argument(
        "--concurrent-calls",
        type=int,
        default=25,
        help=f"calls per client with {CLIENTS} concurrent clients (default 25)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gallery_worker processes beside the web server (default 1; 0: none, the "
        "request thread then always makes the image itself)",
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="table sizes for the list, ascending (default %(default)s)",
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="timed requests per list page (default 100)"
    )
    parser.add_argument("--only", choices=("overhead", "list"), help="run one part only")
    parser.add_argument("--database-url", help="an empty database of your own (else SQLite)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 1000:
        parser.error("--sizes must ascend, from at least 1000")
    print(MACHINE_NOTE)
    if args.only != "list":
        _overhead(args.calls, args.concurrent_calls, args.workers, args.database_url)
    if args.only != "overhead":
        _list(sizes, args.requests, args.database_url)
    return 0


# --- 1. Overhead of the synchronous APIs ------------------------------------------------------


def _overhead(calls: int, per_client: int, workers: int, database_url: str | None) -> None:
    standin = StandinServer(("127.0.0.1", 0), latency=0.0).start()
    inst = Install(standin.url, database_url, **NO_LIMITS)
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.manage(
            "shell", "-c", "from django.contrib.auth.models import User\n"
            "User.objects.create_user('apibench')",
        )  # fmt: skip
        token = inst.manage("issue_token", "apibench", "--name", "bench/api.py").strip()
        _, url = inst.web(workers=2)
        for _ in range(workers):
            inst.worker()
        headers = {"accept": "application/octet-stream", "Authorization": f"Bearer {token}"}
        cases = [
            (
                "/api/text2image",
                standin.url,
                url + "/api/text2image",
                lambda p: {"prompt": p, "negative_prompt": "blurry"},
                _image_bytes,
            ),
            (
                "/v1/images/generations (b64_json)",
                standin.openai_url,
                url + "/v1/images/generations",
                lambda p: {"prompt": p, "response_format": "b64_json"},
                _b64_bytes,
            ),
        ]
        engine = "SQLite" if inst.database_url.startswith("sqlite") else "PostgreSQL"
        print(
            f"\n== 1. synchronous calls on {engine}: straight to the stand-in (latency 0) vs "
            f"through the gallery\n   uvicorn 2 processes, {workers} worker(s); "
            f"{calls} sequential calls (alternating), then {CLIENTS} clients x {per_client}"
        )
        rows = []
        for name, direct_url, gallery_url, body, read in cases:
            call = _caller(headers, body, read)
            for n in range(WARMUP):
                call(direct_url, f"warm-up {n}")
                call(gallery_url, f"warm-up {n}")
            direct, gallery = [], []
            for n in range(calls):
                order = [(direct_url, direct), (gallery_url, gallery)]
                for target, times in order if n % 2 else order[::-1]:
                    times.append(call(target, f"{PROMPT} {n}"))
            rows.append((f"{name}, sequential", direct, gallery, None))
            print(f"  {rows[-1][0]}: done", flush=True)
            d_times, d_wall = _concurrent(call, direct_url, per_client)
            g_times, g_wall = _concurrent(call, gallery_url, per_client)
            rows.append((f"{name}, {CLIENTS} clients", d_times, g_times, (d_wall, g_wall)))
            print(f"  {rows[-1][0]}: done", flush=True)
        _overhead_table(rows)
        print(f"  generations made through the gallery: {inst.counts()}")
        _image_work(inst)
    finally:
        inst.stop()
        standin.stop()
        shutil.rmtree(inst.dir, ignore_errors=True)  # its database and ~300 images


def _caller(headers: dict, body: Callable[[str], dict], read: Callable) -> Callable:
    """A function that POSTs the case's body for a prompt and returns its wall time (s); one
    keep-alive session per thread, as a script would hold."""
    local = threading.local()

    def call(url: str, prompt: str) -> float:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        t0 = time.perf_counter()
        response = session.post(url, json=body(prompt), headers=headers, timeout=120)
        size = read(response)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200 or size < 10_000:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        return elapsed

    return call


def _image_bytes(response: requests.Response) -> int:
    return len(response.content)


def _b64_bytes(response: requests.Response) -> int:
    if response.status_code != 200:
        return 0
    return len(base64.b64decode(response.json()["data"][0]["b64_json"]))


def _concurrent(call: Callable, url: str, per_client: int) -> tuple[list[float], float]:
    times: list[float] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            for i in range(per_client):
                times.append(call(url, f"{PROMPT} client {n} call {i}"))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return times, time.perf_counter() - t0


def _overhead_table(rows: list) -> None:
    print()
    print(f"  {'':46} {'direct ms':>15} {'gallery ms':>15} {'gallery - direct':>17} {'ratio':>6}")
    print(f"  {'':46} {'median / p95':>15} {'median / p95':>15} {'median / p95':>17}")
    for name, direct, gallery, walls in rows:
        d50, d95 = percentile(direct, 50) * 1000, percentile(direct, 95) * 1000
        g50, g95 = percentile(gallery, 50) * 1000, percentile(gallery, 95) * 1000
        print(
            f"  {name:46} {f'{d50:.0f} / {d95:.0f}':>15} {f'{g50:.0f} / {g95:.0f}':>15} "
            f"{f'+{g50 - d50:.0f} / +{g95 - d95:.0f}':>17} {g50 / d50:6.2f}"
        )
        if walls:
            d_rate, g_rate = len(direct) / walls[0], len(gallery) / walls[1]
            print(f"  {'':46} throughput: direct {d_rate:.1f}/s, gallery {g_rate:.1f}/s")


# What the worker does to every image once the endpoint has answered, timed on its own in a
# process of the installation (same settings, same Pillow): the bulk of "gallery - direct".
IMAGE_WORK = """
import statistics, time
from django.conf import settings
from gallery.services import images
from gallery.standin.draw import render
data = render(PROMPT)
steps = {
    'verify': lambda: images.verify(data, max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS),
    'thumbnails (256, 512 WebP)': lambda: images.make_thumbnails(image),
    'preview (1024 WebP)': lambda: images.make_preview(image),
    'average colour': lambda: images.average_color(image),
}
image = images.verify(data, max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS)
t0 = time.perf_counter(); render(PROMPT); draw = time.perf_counter() - t0
total = 0.0
for name, step in steps.items():
    step()
    runs = []
    for _ in range(RUNS):
        t0 = time.perf_counter(); step(); runs.append(time.perf_counter() - t0)
    median = statistics.median(runs) * 1000
    total += median
    print(f'    {name:28} {median:6.1f} ms')
print(f'    {"sum":28} {total:6.1f} ms   (the stand-in drawing the image: {draw * 1000:.0f} ms)')
"""


def _image_work(inst: Install, runs: int = 10) -> None:
    print(f"\n  the app's image work per call, median of {runs} (in a process of its own):")
    code = IMAGE_WORK.replace("PROMPT", repr(PROMPT)).replace("RUNS", str(runs))
    print(inst.manage("shell", "--no-imports", "-c", code), end="")


# --- 2. The JSON API's list at scale ----------------------------------------------------------


def _gallery_bench():
    """bench/gallery.py as a module (its name would clash with the `gallery` app)."""
    spec = importlib.util.spec_from_file_location("bench_gallery", Path(__file__).with_name(
        "gallery.py"))  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _list(sizes: list[int], runs: int, database_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gallery-bench-api-"))
    try:
        setup_django(tmp, database_url)
        _list_bench(_gallery_bench(), sizes, runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _list_bench(seeding, sizes: list[int], runs: int) -> None:
    import random

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from gallery.models import Generation

    page = settings.GALLERY_PAGE_SIZE
    print(
        f"\n== 2. the JSON API's list vs the web grid on {connection.vendor}, anonymous, "
        f"{page} per page; {runs} timed requests each after 10 warm-up"
    )
    users = [User.objects.create_user(f"listbench{n}") for n in range(20)]
    thumbs = seeding._shared_thumbnails()
    rng = random.Random(1)
    client = Client()
    api = f"/api/v1/generations?limit={page}"
    results = []
    for size in sizes:
        have = Generation.objects.count()
        t0 = time.perf_counter()
        seeding._seed(have, size - have, users, thumbs, rng)
        print(f"\n  seeded {size - have:,} rows to {size:,} in {time.perf_counter() - t0:.1f} s")
        middle = Generation.objects.public().filter(id__lte=size // 2).order_by("-id").first()
        pages = [
            ("first page", "/", api),
            ("deep page (cursor)", f"/?before={middle.id}", f"{api}&cursor={middle.id}"),
            ("search: castle -night", "/?q=castle+-night", f"{api}&q=castle+-night"),
        ]
        for name, web_url, api_url in pages:
            row = {"size": size, "page": name}
            for kind, url in (("api", api_url), ("web", web_url)):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                queries = len(captured)  # now: the next request empties the log
                times = seeding._time(lambda u=url: client.get(u), runs)
                row[kind] = (times, queries, response)
            api_ids = [item["id"] for item in row["api"][2].json()["items"]]
            web_ids = re.findall(r'id="t-([a-z0-9]+)"', row["web"][2].content.decode())
            row["same"] = f"{'yes' if api_ids == web_ids else 'NO'} ({len(api_ids)})"
            results.append(row)
            print(
                f"    {name:24} api {statistics.median(row['api'][0]) * 1000:6.2f} ms, "
                f"grid {statistics.median(row['web'][0]) * 1000:6.2f} ms",
                flush=True,
            )
    print()
    print(
        f"  {'rows':>10} {'page':24} {'API median / p95':>18} {'queries':>7} "
        f"{'grid median / p95':>18} {'queries':>7} {'API/grid':>8} {'same items':>10}"
    )
    for row in results:
        (a, aq, _), (w, wq, _) = row["api"], row["web"]
        cells = [f"{_ms(t, 50):.2f} / {_ms(t, 95):.2f}" for t in (a, w)]
        print(
            f"  {row['size']:>10,} {row['page']:24} {cells[0]:>18} {aq:>7} {cells[1]:>18} "
            f"{wq:>7} {_ms(a, 50) / _ms(w, 50):8.2f} {row['same']:>10}"
        )


def _ms(times: list[float], p: float) -> float:
    return percentile(times, p) * 1000


if __name__ == "__main__":
    sys.exit(main())
