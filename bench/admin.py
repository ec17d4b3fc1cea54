"""Admin benchmark: the Generation changelist on a table of a million rows.

Seeds N generations (default 1,000,000; 1,000 owners; a realistic mix of statuses,
visibilities and moderation states; a few hundred open reports) with one INSERT ... SELECT
in the database itself, then times the admin's changelist through Django's test client,
signed in as a superuser: the first page, filters, searches and a second page. For each it
prints the median and p95 of the whole request, the number of SQL queries, the median time
spent in SQL and the slowest query of the last request (the rest is Python: the admin's
template rendering, which dominates on a busy machine).

    .venv/bin/python bench/admin.py                       # SQLite, a temporary file
    .venv/bin/python bench/admin.py --rows 100000 --runs 10
    .venv/bin/python bench/admin.py --database-url postgres://postgres@127.0.0.1:5432/bench_admin

--database-url must name a throwaway database of its own (create it first, drop it after):
the tables are made with migrate and filled; nothing is cleaned up. A database that already
holds N or more generations is reused as it is (handy to re-run the timings).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import setup_django

SUBJECTS = ["a lighthouse", "a red fox", "an old harbour", "a glass teapot", "a city street",
            "a mountain lake", "a robot gardener", "a paper boat", "a night market",
            "a snowy forest", "a desert caravan", "a jazz trio", "a koi pond"]  # fmt: skip
PLACES = ["at dawn", "in the rain", "under neon lights", "in autumn", "at golden hour",
          "in fog", "on the moon", "in a snow globe", "by candlelight"]  # fmt: skip
STYLES = ["watercolour", "oil painting", "35mm photo", "isometric render", "ukiyo-e print",
          "pencil sketch", "low-poly 3D", "cinematic still"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="generations to seed")
    parser.add_argument("--runs", type=int, default=15, help="timed requests per case")
    parser.add_argument("--database-url", help="a throwaway database of its own (see above)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gallery-bench-admin-"))
    try:
        setup_django(tmp, args.database_url, test_environment=True)
        _seed(args.rows)
        _bench(args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _sql_list(values: list[str], vendor: str, index_sql: str) -> str:
    """values[index] as SQL: an array on PostgreSQL, a JSON array on SQLite."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    if vendor == "postgresql":
        return f"(ARRAY[{quoted}])[1 + ({index_sql}) % {len(values)}]"
    path = f"'$[' || (({index_sql}) % {len(values)}) || ']'"
    return f"json_extract('[' || {_json_array(values)} || ']', {path})"


def _json_array(values: list[str]) -> str:
    return "'" + ", ".join('"' + v + '"' for v in values) + "'"


def _seed(rows: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from gallery.models import Generation, Report

    have = Generation.objects.count()
    if have >= rows:
        print(f"reusing {have:,} generations already in the database")
        return
    vendor = connection.vendor
    t0 = time.perf_counter()
    with transaction.atomic():
        User.objects.filter(username__startswith="bench-").delete()
        User.objects.bulk_create(
            [User(username=f"bench-{i:04}", password="!") for i in range(1000)], batch_size=500
        )
        first_user = User.objects.filter(username="bench-0000").values_list("pk", flat=True)[0]
        g = "g"
        if vendor == "postgresql":
            series = f"FROM generate_series(1, {rows}) AS s(g)"
            public_id = "'b' || lpad(g::text, 11, '0')"
            created = f"now() - make_interval(secs => {rows} - g)"
            cte = ""
            pad = "repeat('0', 64)"
        else:
            series = "FROM s"
            public_id = "'b' || substr('00000000000' || g, -11, 11)"
            created = f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({rows} - g) || ' seconds')"
            cte = (
                f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {rows}) "
            )
            pad = "'" + "0" * 64 + "'"
        # 1 in 40 failed, 1 in 200 queued; 1 in 5 private; 1 in 100 hidden, 1 in 250 pending,
        # 1 in 500 removed.
        status = (
            f"CASE WHEN {g} % 40 = 7 THEN 'failed' WHEN {g} % 200 = 3 THEN 'queued' "
            "ELSE 'succeeded' END"
        )
        succeeded = f"({g} % 40 <> 7 AND {g} % 200 <> 3)"
        moderation = (f"CASE WHEN {g} % 500 = 11 THEN 'removed' WHEN {g} % 250 = 13 THEN 'pending' "
                      f"WHEN {g} % 100 = 17 THEN 'hidden' ELSE 'visible' END")  # fmt: skip
        removed = f"({g} % 500 = 11)"
        subject = _sql_list(SUBJECTS, vendor, g)
        place = _sql_list(PLACES, vendor, f"{g} / 13")
        style = _sql_list(STYLES, vendor, f"{g} / 117")
        prompt = f"{subject} || ' ' || {place} || ', ' || {style} || ' #' || {g}"
        has_files = f"{succeeded} AND NOT {removed}"
        file = f"CASE WHEN {has_files} THEN 'originals/bb/' || {public_id} || '.jpg' ELSE '' END"
        thumb = (
            f"CASE WHEN {has_files} THEN 'thumbnails/bb/' || {public_id} || '-256.webp' ELSE '' END"
        )
        columns = {
            "public_id": public_id,
            "prompt": prompt,
            "negative_prompt": "''",
            "owner_id": f"{first_user} + {g} % 1000",
            "visibility": f"CASE WHEN {g} % 5 = 0 THEN 'private' ELSE 'public' END",
            "moderation": moderation,
            "moderation_reason": f"CASE WHEN {g} % 100 = 17 THEN 'Off-topic' ELSE '' END",
            "status": status,
            "failure_reason": f"CASE WHEN {g} % 40 = 7 THEN 'The endpoint failed.' ELSE '' END",
            "failure_detail": "''",
            "attempts": "1",
            "claims": "1",
            "claim_token": "''",
            "task_id": "''",
            "status_note": "''",
            "original": file,
            "thumbnail": thumb,
            "thumbnail_2x": thumb,
            "preview_image": thumb,
            "width": "1024",
            "height": "1024",
            "format": "'JPEG'",
            "byte_size": "200000",
            "sha256": f"CASE WHEN {succeeded} THEN {pad} ELSE '' END",
            "placeholder_color": "'#556677'",
            "endpoint_label": "'bench'",
            "endpoint_url": "''",
            "created_at": created,
            "queued_at": created,
        }
        fields = {f.column for f in Generation._meta.concrete_fields if f.column != "id"}
        nullable = {f.column for f in Generation._meta.concrete_fields if f.null}
        missing = fields - set(columns) - nullable
        assert not missing, f"the seed SQL lacks {missing}"
        names = ", ".join(columns)
        exprs = ", ".join(columns.values())
        sql = f"{cte}INSERT INTO gallery_generation ({names}) SELECT {exprs} {series}"
        if vendor != "postgresql":
            sql = f"INSERT INTO gallery_generation ({names}) {cte}SELECT {exprs} {series}"
        with connection.cursor() as cursor:
            cursor.execute(sql)
    t1 = time.perf_counter()
    # A few hundred reported images, some with several reports.
    users = list(User.objects.filter(username__startswith="bench-").order_by("pk")[:5])
    reported = list(
        Generation.objects.filter(status="succeeded", moderation="visible", visibility="public")
        .order_by("id")
        .values_list("id", flat=True)[:: max(1, rows // 300)][:300]
    )
    Report.objects.bulk_create(
        [
            Report(generation_id=gid, reporter=users[k], category="spam", note="bench")
            for n, gid in enumerate(reported)
            for k in range(1 + n % 3)
        ],
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {rows:,} generations in {t1 - t0:.1f} s ({connection.vendor})")


CASES = [
    ("first page", {}),
    ("second page (?p=2)", {"p": "2"}),
    ("filter moderation=hidden", {"moderation__exact": "hidden"}),
    ("filter moderation=pending", {"moderation__exact": "pending"}),
    ("filter status=failed", {"status__exact": "failed"}),
    ("filter visibility=private", {"visibility__exact": "private"}),
    ("filter reported=yes", {"reported": "yes"}),
    ("filter owner=bench-0042", {"owner": "bench-0042"}),
    ("filter created: past 7 days", {"created_at__gte": "{week_ago}"}),
    ("search 'lighthouse' (common)", {"q": "lighthouse"}),
    ("search 'koi pond in fog' (rarer)", {"q": "koi pond in fog"}),
    ("search an exact image id", {"q": "b00000500000"}),
    ("search a word in no prompt", {"q": "zeppelin"}),
]


def _bench(runs: int) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from gallery.admin import GenerationAdmin
    from gallery.models import Generation

    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    url = reverse("admin:gallery_generation_changelist")
    week_ago = (timezone.now() - timezone.timedelta(days=7)).isoformat(sep=" ")
    total = Generation.objects.count()

    db = settings.DATABASES["default"]
    print(f"admin changelist benchmark: {total:,} generations, {runs} timed requests per case")
    print(f"database: {connection.vendor} {db['NAME']}")
    print()
    heads = ("median ms", "p95 ms", "queries", "SQL ms", "slowest q ms", "rows")
    print(f"{'case':40} {heads[0]:>10} {heads[1]:>10} {heads[2]:>8} {heads[3]:>10} "
          f"{heads[4]:>13} {heads[5]:>5}")  # fmt: skip

    def run(label: str, params: dict) -> None:
        params = {k: v.format(week_ago=week_ago) for k, v in params.items()}
        times: list[float] = []
        sql: list[float] = []
        for i in range(runs + 2):  # two warm-up requests
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                response = client.get(url, params)
                elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (label, response.status_code)
            if i >= 2:
                times.append(elapsed * 1000)
                sql.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        slowest = max(float(q["time"]) for q in queries.captured_queries) * 1000
        shown = response.context["cl"].result_list
        ms = sorted(times)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"{label:40} {statistics.median(ms):10.1f} {p95:10.1f} {len(queries):8} "
              f"{statistics.median(sql):10.1f} {slowest:13.1f} {len(shown):5}")  # fmt: skip

    for label, params in CASES:
        run(label, params)
    # For comparison: Django's stock paginator, which counts every matching row.
    capped, GenerationAdmin.paginator = GenerationAdmin.paginator, Paginator
    try:
        run("first page, stock Paginator (COUNT(*))", {})
        run("search 'lighthouse', stock Paginator", {"q": "lighthouse"})
    finally:
        GenerationAdmin.paginator = capped


if __name__ == "__main__":
    raise SystemExit(main())
