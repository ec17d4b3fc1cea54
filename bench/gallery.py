"""Gallery browsing benchmark: does a page cost the same at 1,000 and at 1,000,000 images?

The table grows in steps (1,000 -> 100,000 -> 1,000,000 rows by default). At each size it
times, through Django's test client (server time: URL routing, queries, template rendering;
no network), the pages a visitor actually opens:

- grid: the first page of the public gallery, as a visitor;
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

With --database-url the database must be yours alone (create one for it): the benchmark
migrates it and fills it; drop it afterwards. Rows already there are kept and the table is
only topped up to each size, so a database seeded by an earlier run is reused (loading
1,000,000 rows into PostgreSQL takes minutes); --only times some pages and skips the rest:

    .venv/bin/python bench/gallery.py --sizes 1000,1000000 --only similar \
        --database-url postgres://postgres@127.0.0.1:5432/bench_gallery
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
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
SIMILAR = "similar images (lookup)"
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
        "--only", default="", help="time only the pages whose name contains this (e.g. similar)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 1000:
        parser.error("--sizes must ascend, from at least 1000")

    tmp = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    # Thousands of opens from one address: the share-link rate limit would answer 429.
    os.environ["GALLERY_SHARE_RATE"] = "0"
    try:
        setup_django(tmp, args.database_url)
        return _bench(sizes, args.requests, args.explain, args.only)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(sizes: list[int], requests: int, explain: bool, only: str) -> int:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from gallery.models import Generation

    vendor = connection.vendor
    print(f"gallery benchmark on {vendor} ({settings.DATABASES['default']['NAME']})")
    print(
        f"{requests} timed requests per page after 10 warm-up; "
        f"page size {settings.GALLERY_PAGE_SIZE}"
    )
    # get_or_create: a database kept from an earlier run already has them.
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
            print(f"\nskipped {size:,} rows: the table already holds {have:,}")
            continue
        t0 = time.perf_counter()
        _seed(have, size - have, users, thumbs, rng)
        print(f"\nseeded {size - have:,} rows to {size:,} in {time.perf_counter() - t0:.1f} s")
        middle = Generation.objects.public().filter(id__lte=size // 2).order_by("-id").first()
        from django.contrib.auth.models import AnonymousUser

        from gallery.services import similarity

        if only in SIMILAR:
            anonymous = AnonymousUser()
            assert similarity.similar(anonymous, middle) is not None
            times = _time(lambda a=anonymous, m=middle: similarity.similar(a, m), requests)
            results.setdefault(SIMILAR, {})[size] = times
            print(f"  {SIMILAR:32} median {_ms(times, 50):7.2f} ms   "
                  f"p95 {_ms(times, 95):7.2f} ms")  # fmt: skip
            if explain:
                _explain(lambda a=anonymous, m=middle: similarity.similar(a, m))
        pages = _pages(me, size, rng, middle, visitor, member, only)
        for name, (client, url) in pages.items():
            response = client.get(url)
            assert response.status_code == 200, (name, response.status_code)
            times = _time(lambda c=client, u=url: c.get(u), requests)
            results.setdefault(name, {})[size] = times
            print(f"  {name:32} median {_ms(times, 50):7.2f} ms   p95 {_ms(times, 95):7.2f} ms")
            if explain:
                _explain(lambda c=client, u=url: c.get(u))

    if not results:
        print("nothing timed: every size was below what the table holds")
        return 1
    sizes = [s for s in sizes if s in next(iter(results.values()))]
    _table(results, sizes)
    if not only:
        _transfer(settings.GALLERY_PAGE_SIZE)
    return 0


def _pages(me, size: int, rng: random.Random, middle, visitor, member, only: str):
    """The pages timed at this size, by name: (client, url); those --only leaves out are
    skipped, and so is the collection when no page needs it."""
    from django.test import Client

    pages: dict[str, tuple[Client, str]] = {
        "grid, first page": (visitor, "/"),
        "grid, deep page (cursor)": (visitor, f"/?before={middle.id}"),
        "search: castle -night": (visitor, "/?q=castle+-night"),
        'search: "red fox" watercolour': (visitor, "/?q=%22red+fox%22+watercolour"),
        "mine (signed in)": (member, "/?mine=1"),
        "detail with prev/next": (visitor, f"/g/{middle.public_id}/"),
    }
    album_pages = [
        "collection, first page",
        "collection, deep page (cursor)",
        "share link: the collection",
        "share link: one image",
    ]
    if any(only in name for name in album_pages):
        t0 = time.perf_counter()
        album, album_middle, album_link, image_link = _collection(me, size, rng)
        print(f"collection of {album.items.count():,} images in {time.perf_counter() - t0:.1f} s")
        pages.update(
            {
                "collection, first page": (visitor, album.get_absolute_url()),
                "collection, deep page (cursor)": (
                    visitor,
                    f"{album.get_absolute_url()}?before={album_middle}",
                ),
                "share link: the collection": (Client(), album_link.get_absolute_url()),
                "share link: one image": (Client(), image_link.get_absolute_url()),
            }
        )
    return {name: page for name, page in pages.items() if only in name}


COLLECTION_SIZE = 10_000


def _collection(me, size: int, rng: random.Random):
    """A public collection of `me`'s with 10,000 images (or every image while the table is
    smaller) drawn from the whole table, remade at each size; a share link to it, and one to
    one of `me`'s images."""
    from gallery.models import Collection, CollectionItem, Generation, ShareLink

    Collection.objects.all().delete()
    album = Collection.objects.create(owner=me, name="Bench album", visibility="public")
    ids = list(Generation.objects.with_image().values_list("id", flat=True))
    chosen = sorted(rng.sample(ids, min(COLLECTION_SIZE, len(ids))))
    CollectionItem.objects.bulk_create(
        [CollectionItem(collection=album, generation_id=i) for i in chosen], batch_size=5000
    )
    mine = Generation.objects.public().filter(owner=me).order_by("-id").first()
    image_link = ShareLink.objects.create(owner=me, generation=mine)
    return (
        album,
        chosen[len(chosen) // 2],
        ShareLink.objects.create(owner=me, collection=album),
        image_link,
    )


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


def _explain(request: Callable[[], object]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        request()
    for query in captured.captured_queries:
        sql = query["sql"]
        if "gallery_generation" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue  # EXPLAIN ANALYZE runs the statement: reads only
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
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
        if name == SIMILAR:
            ok = _ms(by_size[last], 50) <= GOAL_SIMILAR_MS
        else:
            ok = _ms(by_size[last], 50) <= GOAL_MEDIAN_MS and ratio <= GOAL_RATIO
        met &= ok
        print(f"{name:32}{cells} {ratio:7.2f}{'' if ok else ' *'}")
    print(
        f"goal: median <= {GOAL_MEDIAN_MS:.0f} ms at {last:,} rows and <= {GOAL_RATIO}x the "
        f"{first:,}-row median ({SIMILAR}: median <= {GOAL_SIMILAR_MS:.0f} ms): "
        f"{'MET' if met else 'NOT MET (rows marked *)'}"
    )


def _transfer(page_size: int) -> None:
    """What a grid page's thumbnails weigh at 2x, made by the app's own thumbnailer."""
    from gallery.services import images
    from gallery.standin import draw

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
