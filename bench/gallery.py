"""Gallery browsing benchmark: does a page cost the same at 1,000 and at 1,000,000 images?

The table grows in steps (1,000 -> 100,000 -> 1,000,000 rows by default). At each size it
times, through Django's test client (server time: URL routing, queries, template rendering;
no network), the pages a visitor actually opens:

- grid: the first page of the public gallery, as a visitor (from the signed-out page cache,
  as a second visitor gets it), and again rendered with that cache off;
- deep page: a page from the middle of the table, by keyset cursor;
- search: a common word with an exclusion (``castle -night``), and a rare phrase plus a word
  (``"red fox" watercolour``), as a visitor;
- mine: a signed-in user's own images (about 5% of the rows);
- collection: a public collection of 10,000 images (all of them while the table is smaller)
  spread over the whole table, as a visitor: its first page with the cover, and a deep page;
- share link: the same collection through a share link, and one image's share link.
- detail: one image's page, with its previous/next links (two one-row queries) and its
  "similar images";
- similar images: the lookup alone (``similarity.similar``: four band probes, the exact
  distance over what they return, access asked of those candidates only), as a visitor.
  Seeded hashes are random 64-bit values, so each 16-bit band value is shared by about
  rows/65,536 others; a gallery of near-identical pictures shares more (MAX_CANDIDATES
  bounds what one lookup reads).

Medians and p95 over --requests runs of each, and the ratio to the smallest size. The rows are
seeded straight into the table (executemany on SQLite, COPY on PostgreSQL), the search index
rebuilt once after each load; prompts come from a vocabulary so a search has realistic
selectivity; owners, private, hidden, failed and queued rows are mixed in. It also reports the
grid's transfer: 48 thumbnails at 2x made by the app's own thumbnailer from stand-in images.
Figures are printed, never asserted.

Run from the repository root:

    .venv/bin/python bench/gallery.py                                  # SQLite, temp file
    .venv/bin/python bench/gallery.py --sizes 1000,100000 --requests 200
    .venv/bin/python bench/gallery.py --database-url postgres://postgres@127.0.0.1:5432/bench_gallery
    .venv/bin/python bench/gallery.py --sizes 1000,1000000 --keep /var/tmp/bench-gallery \
        --pages grid,collection,share --rounds 2        # load each size once, reuse it after

With --keep, each size has its own kept data set (a SQLite file under DIR, or with
--database-url a database named after it plus _<size>) and runs in its own process; a kept
set is reused as it is (the collection and share links are remade). Delete it when done.

With --database-url the database must be empty and yours alone (create one for it): the
benchmark migrates it and fills it; drop it afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import setup_django

GOAL_MEDIAN_MS = 25.0
GOAL_RATIO = 1.5
# "Similar images" has a goal of its own, a median only: what one band probe returns grows
# with the table (about rows/65,536 per band), so its time is not meant to stay flat.
GOAL_SIMILAR_MS = 50.0
GOAL_TRANSFER = 1_000_000
BATCH = 50_000

SUBJECTS = [
    "lighthouse",
    "castle",
    "fox",
    "cat",
    "owl",
    "whale",
    "harbour",
    "forest",
    "mountain",
    "lake",
    "city",
    "street",
    "market",
    "garden",
    "desert",
    "bridge",
    "train",
    "robot",
    "dragon",
    "astronaut",
    "samurai",
    "knight",
    "village",
    "temple",
    "island",
    "waterfall",
    "canyon",
    "glacier",
    "volcano",
    "meadow",
    "library",
    "cathedral",
    "lantern",
    "ship",
    "balloon",
    "tiger",
    "wolf",
    "deer",
    "horse",
    "butterfly",
    "koi",
    "jellyfish",
    "octopus",
    "tree",
    "cabin",
    "windmill",
    "tower",
    "ruins",
    "portrait",
    "skyline",
]
ADJECTIVES = [
    "red",
    "blue",
    "golden",
    "silver",
    "misty",
    "quiet",
    "ancient",
    "futuristic",
    "tiny",
    "giant",
    "glowing",
    "frozen",
    "abandoned",
    "cozy",
    "stormy",
    "sunlit",
    "moonlit",
    "neon",
    "rusty",
    "overgrown",
]
SETTINGS = [
    "at dawn",
    "at sunset",
    "at night",
    "in the rain",
    "in a storm",
    "in autumn",
    "in winter",
    "under the stars",
    "in the fog",
    "by the sea",
    "in spring",
    "at noon",
    "in the snow",
    "underwater",
    "in space",
]
STYLES = [
    "watercolour",
    "oil painting",
    "pencil sketch",
    "photograph",
    "35mm film",
    "digital art",
    "ukiyo-e",
    "low poly",
    "pixel art",
    "studio ghibli style",
    "cinematic lighting",
    "isometric",
    "charcoal",
    "gouache",
    "long exposure",
    "macro shot",
    "matte painting",
    "art nouveau",
    "bauhaus poster",
    "vaporwave",
]
EXTRAS = [
    "highly detailed",
    "8k",
    "soft light",
    "dramatic clouds",
    "bokeh",
    "volumetric light",
    "wide angle",
    "muted colours",
    "vivid colours",
    "symmetrical",
    "award winning",
    "trending",
    "sharp focus",
    "film grain",
]


PAGES = {
    # --pages key: the row's name in the table
    "similar": "similar images (lookup)",
    "grid": "grid, first page",
    # A visitor's grid is answered from the page cache once rendered; this one renders it.
    "grid-rendered": "grid, first page, rendered",
    "deep": "grid, deep page (cursor)",
    "search": "search: castle -night",
    "phrase": 'search: "red fox" watercolour',
    "mine": "mine (signed in)",
    "detail": "detail with prev/next",
    "collection": "collection, first page",
    "collection-deep": "collection, deep page (cursor)",
    "share": "share link: the collection",
    "share-image": "share link: one image",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        default="1000,100000,1000000",
        help="table sizes, ascending (default %(default)s)",
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--database-url", help="an empty database of your own (else SQLite)")
    parser.add_argument("--explain", action="store_true", help="print each page's query plan")
    parser.add_argument(
        "--pages", help=f"only these pages, comma-separated keys ({', '.join(PAGES)})"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="time each page this often, keep its best median"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="one data set per size, kept and reused: SQLite files under DIR, or with "
        "--database-url one database per size (its name + _<size>, created when missing)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one size of --keep, in its own process
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 1000:
        parser.error("--sizes must ascend, from at least 1000")
    pages = args.pages.split(",") if args.pages else list(PAGES)
    if unknown := set(pages) - set(PAGES):
        parser.error(f"unknown --pages: {', '.join(sorted(unknown))}")

    # Thousands of opens from one address: the share-link rate limit would answer 429.
    os.environ["GALLERY_SHARE_RATE"] = "0"
    print(f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    if args.keep and not args.child:
        return _kept(args, sizes)
    tmp = Path(args.child) if args.child else Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    try:
        setup_django(tmp, args.database_url)
        results = _bench(sizes, args.requests, args.explain, pages, args.rounds)
        if args.child:
            (tmp / "results.json").write_text(json.dumps(results))
        else:
            _table(results, sizes)
            _transfer()
        return 0
    finally:
        if not args.child:
            shutil.rmtree(tmp, ignore_errors=True)


def _kept(args: argparse.Namespace, sizes: list[int]) -> int:
    """Each size in its own process on its own kept data set (a 1,000,000-row load is made
    once, then reused), results gathered into one table."""
    keep = Path(args.keep)
    results: dict[str, dict[int, list[float]]] = {}
    for size in sizes:
        child = keep / f"rows-{size}"
        child.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--sizes", str(size), "--child", str(child)]
        command += ["--requests", str(args.requests), "--rounds", str(args.rounds)]
        command += ["--pages", args.pages] if args.pages else []
        command += ["--explain"] if args.explain else []
        if args.database_url:
            url = f"{args.database_url}_{size}"
            _create_database(url)
            command += ["--database-url", url]
        subprocess.run(command, check=True)
        for name, by_size in json.loads((child / "results.json").read_text()).items():
            results.setdefault(name, {})[size] = by_size[str(size)]
    _table(results, sizes)
    return 0


def _create_database(url: str) -> None:
    """The PostgreSQL database of one kept size, when it is not there yet."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _bench(
    sizes: list[int], requests: int, explain: bool, keys: list[str], rounds: int
) -> dict[str, dict[int, list[float]]]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from gallery.models import Generation

    vendor = connection.vendor
    print(f"gallery benchmark on {vendor} ({settings.DATABASES['default']['NAME']})")
    print(
        f"{requests} timed requests per page after 10 warm-up, best of {rounds} round(s); "
        f"page size {settings.GALLERY_PAGE_SIZE}"
    )
    # A kept data set already has its users (and rows): reuse them.
    users = [User.objects.get_or_create(username=f"bench{n}")[0] for n in range(20)]
    me = users[0]
    visitor, member = Client(), Client()
    member.force_login(me)
    thumbs = _shared_thumbnails()

    results: dict[str, dict[int, list[float]]] = {}
    rng = random.Random(1)
    for size in sizes:
        have = Generation.objects.count()
        if have > size:
            raise SystemExit(f"the database has {have:,} rows, more than {size:,}")
        t0 = time.perf_counter()
        _seed(have, size - have, users, thumbs, rng)
        print(f"\nseeded {size - have:,} rows to {size:,} in {time.perf_counter() - t0:.1f} s")
        middle = Generation.objects.public().filter(id__lte=size // 2).order_by("-id").first()
        t0 = time.perf_counter()
        album, album_middle, album_link, image_link = _collection(me, size, rng)
        print(f"collection of {album.items.count():,} images in {time.perf_counter() - t0:.1f} s")
        urls: dict[str, tuple[Client, str]] = {
            "grid": (visitor, "/"),
            "grid-rendered": (visitor, "/"),
            "deep": (visitor, f"/?before={middle.id}"),
            "search": (visitor, "/?q=castle+-night"),
            "phrase": (visitor, "/?q=%22red+fox%22+watercolour"),
            "mine": (member, "/?mine=1"),
            "detail": (visitor, f"/g/{middle.public_id}/"),
            "collection": (visitor, album.get_absolute_url()),
            "collection-deep": (visitor, f"{album.get_absolute_url()}?before={album_middle}"),
            "share": (Client(), album_link.get_absolute_url()),
            "share-image": (Client(), image_link.get_absolute_url()),
        }
        from django.contrib.auth.models import AnonymousUser

        from gallery.services import similarity

        anonymous = AnonymousUser()
        for key in keys:
            name = PAGES[key]
            if key == "similar":
                assert similarity.similar(anonymous, middle) is not None
                request = lambda a=anonymous, m=middle: similarity.similar(a, m)  # noqa: E731
            else:
                client, url = urls[key]
                response = client.get(url)
                assert response.status_code == 200, (name, response.status_code)
                request = lambda c=client, u=url: c.get(u)  # noqa: E731
                if key == "grid-rendered":
                    request = lambda c=client, u=url: _rendered(c, u)  # noqa: E731
            times = min((_time(request, requests) for _ in range(rounds)), key=statistics.median)
            results.setdefault(name, {})[size] = times
            print(f"  {name:32} median {_ms(times, 50):7.2f} ms   p95 {_ms(times, 95):7.2f} ms")
            if explain and key != "similar":
                _explain(*urls[key])
    return results


COLLECTION_SIZE = 10_000


def _collection(me, size: int, rng: random.Random):
    """A public collection of `me`'s with 10,000 images (or every image while the table is
    smaller) drawn from the whole table, remade at each size; a share link to it, and one to
    one of `me`'s images."""
    from django.db import connection

    from gallery.models import Collection, CollectionItem, Generation, ShareLink

    Collection.objects.all().delete()
    album = Collection.objects.create(owner=me, name="Bench album", visibility="public")
    ids = list(Generation.objects.with_image().values_list("id", flat=True))
    chosen = sorted(rng.sample(ids, min(COLLECTION_SIZE, len(ids))))
    CollectionItem.objects.bulk_create(
        [CollectionItem(collection=album, generation_id=i) for i in chosen], batch_size=5000
    )
    with connection.cursor() as cursor:  # the planner's statistics include the new items
        cursor.execute("ANALYZE")
    mine = Generation.objects.public().filter(owner=me).order_by("-id").first()
    image_link = ShareLink.objects.create(owner=me, generation=mine)
    return (
        album,
        chosen[len(chosen) // 2],
        ShareLink.objects.create(owner=me, collection=album),
        image_link,
    )


def _rendered(client, url: str):
    """The page as rendered, not as the signed-out page cache keeps it."""
    from django.test import override_settings

    with override_settings(GALLERY_PAGE_CACHE=False):
        return client.get(url)


def _time(request: Callable[[], object], runs: int) -> list[float]:
    for _ in range(10):
        request()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        request()
        times.append(time.perf_counter() - t0)
    return times


def _ms(times: list[float], percentile: int) -> float:
    ordered = sorted(times)
    return 1000 * ordered[min(len(ordered) - 1, round(percentile / 100 * (len(ordered) - 1)))]


def _prompt(rng: random.Random) -> str:
    words = [rng.choice(ADJECTIVES), rng.choice(SUBJECTS)]
    if rng.random() < 0.5:
        words += ["and", "a", rng.choice(ADJECTIVES), rng.choice(SUBJECTS)]
    words += [rng.choice(SETTINGS), rng.choice(STYLES)]
    words += rng.sample(EXTRAS, rng.randint(0, 3))
    return "a " + ", ".join([" ".join(words[:-1]), words[-1]])


def _shared_thumbnails() -> tuple[str, str]:
    """One tiny pair of files that every seeded row points at (the pages never open them)."""
    return "thumbnails/bench/t-256.webp", "thumbnails/bench/t-512.webp"


def _seed(start: int, count: int, users, thumbs: tuple[str, str], rng: random.Random) -> None:
    """Append `count` rows: executemany on SQLite, COPY on PostgreSQL, with the search index
    built once after the load instead of row by row."""
    from django.db import connection, transaction
    from django.utils import timezone

    from gallery.models import Generation
    from gallery.services import search, similarity

    fields = [f for f in Generation._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    index = {f.attname: n for n, f in enumerate(fields)}
    base = []
    for f in fields:
        default = f.get_default() if f.has_default() else (None if f.null else "")
        if isinstance(default, dict):
            default = "{}"  # a JSON column, written as its text
        base.append(default)
    owners = [u.pk for u in users]
    epoch = timezone.now() - dt.timedelta(days=730)
    step = dt.timedelta(seconds=30)

    def rows():
        for n in range(start, start + count):
            row = list(base)
            roll = rng.random()
            status = "succeeded" if roll < 0.97 else ("failed" if roll < 0.99 else "queued")
            owner = owners[0] if rng.random() < 0.05 else rng.choice([*owners[1:], None])
            when = epoch + step * n
            row[index["public_id"]] = f"b{n:011d}"
            row[index["prompt"]] = _prompt(rng)
            row[index["owner_id"]] = owner
            row[index["visibility"]] = "private" if rng.random() < 0.1 else "public"
            row[index["moderation"]] = "hidden" if rng.random() < 0.01 else "visible"
            row[index["status"]] = status
            row[index["created_at"]] = when
            if status == "failed":
                row[index["failure_reason"]] = "The endpoint refused the prompt."
            if status == "succeeded":
                row[index["original"]] = f"originals/bench/{n}.jpg"
                row[index["thumbnail"]], row[index["thumbnail_2x"]] = thumbs
                row[index["sha256"]] = "0" * 64
                row[index["width"]] = row[index["height"]] = 1024
                row[index["format"]] = "jpeg"
                row[index["byte_size"]] = 180_000
                row[index["placeholder_color"]] = "#6a5f8c"
                row[index["finished_at"]] = when
                value = rng.getrandbits(64)
                for column, stored in similarity.fields_for(value).items():
                    row[index[column]] = stored
            yield row

    placeholders = ", ".join(["%s"] * len(columns))
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for sql in search.SQLITE_DROP[:3]:  # triggers off during the load
                cursor.execute(sql)
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM gallery_generation")
            last_id = cursor.fetchone()[0]
            generator = rows()
            while True:
                batch = [next(generator, None) for _ in range(BATCH)]
                batch = [r for r in batch if r is not None]
                if not batch:
                    break
                with transaction.atomic():
                    cursor.executemany(
                        f"INSERT INTO gallery_generation ({column_list}) VALUES ({placeholders})",
                        batch,
                    )
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO gallery_generation_fts(rowid, prompt) "
                    "SELECT id, prompt FROM gallery_generation WHERE id > %s",
                    [last_id],
                )
                cursor.execute(
                    "INSERT INTO gallery_generation_fts(gallery_generation_fts) VALUES ('optimize')"
                )
            search.restore_sqlite_triggers(connection)
            cursor.execute("ANALYZE")
        else:
            for sql in search.POSTGRES_DROP:
                cursor.execute(sql)
            with transaction.atomic():
                copy_sql = f"COPY gallery_generation ({column_list}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows():
                        copy.write_row(row)
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for sql in search.POSTGRES_CREATE:
                cursor.execute(sql)
            cursor.execute("VACUUM ANALYZE gallery_generation")


def _explain(client, url: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    for query in captured.captured_queries:
        sql = query["sql"]
        if "gallery_generation" not in sql or "django_session" in sql:
            continue
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql)
            plan = cursor.fetchall()
        lines = [row[-1] for row in plan]
        print("      plan: " + "\n            ".join(str(line) for line in lines))


def _table(results: dict[str, dict[int, list[float]]], sizes: list[int]) -> None:
    first, last = sizes[0], sizes[-1]
    print()
    header = f"{'page':32}" + "".join(f" {f'{s:,} rows':>22}" for s in sizes)
    print(header + f" {'ratio':>8}")
    print(
        f"{'':32}"
        + "".join(f" {'median / p95 ms':>22}" for _ in sizes)
        + f" {f'{last:,}/{first:,}':>8}"
    )
    met = True
    for name, by_size in results.items():
        cells = "".join(
            f" {f'{_ms(by_size[s], 50):.2f} / {_ms(by_size[s], 95):.2f}':>22}" for s in sizes
        )
        ratio = _ms(by_size[last], 50) / _ms(by_size[first], 50)
        if name == PAGES["similar"]:
            ok = _ms(by_size[last], 50) <= GOAL_SIMILAR_MS
        else:
            ok = _ms(by_size[last], 50) <= GOAL_MEDIAN_MS and ratio <= GOAL_RATIO
        met &= ok
        print(f"{name:32}{cells} {ratio:7.2f}{'' if ok else ' *'}")
    print(
        f"goal: median <= {GOAL_MEDIAN_MS:.0f} ms at {last:,} rows and <= {GOAL_RATIO}x the "
        f"{first:,}-row median (similar images: <= {GOAL_SIMILAR_MS:.0f} ms): "
        f"{'MET' if met else 'NOT MET (rows marked *)'}"
    )


def _transfer() -> None:
    """What a grid page's thumbnails weigh at 2x, made by the app's own thumbnailer."""
    from django.conf import settings

    from gallery.services import images
    from gallery.standin import draw

    page_size = settings.GALLERY_PAGE_SIZE

    prompts = [_prompt(random.Random(n)) for n in range(12)]
    sizes = []
    for prompt in prompts:
        verified = images.verify(draw.render(prompt), max_pixels=4096 * 4096)
        by_size = {t.size: len(t.data) for t in images.make_thumbnails(verified)}
        sizes.append(by_size[max(by_size)])
    mean = statistics.mean(sizes)
    total = mean * page_size
    print()
    print(
        f"grid transfer at 2x: {page_size} thumbnails x {mean / 1024:.1f} KB mean "
        f"(min {min(sizes) / 1024:.1f}, max {max(sizes) / 1024:.1f}; {len(sizes)} stand-in "
        f"images) = {total / 1024:.0f} KB; goal <= {GOAL_TRANSFER / 1e6:.0f} MB: "
        f"{'MET' if total <= GOAL_TRANSFER else 'NOT MET'}"
    )


if __name__ == "__main__":
    sys.exit(main())
