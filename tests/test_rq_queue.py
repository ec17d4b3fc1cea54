"""The Redis queue (GALLERY_TASK_BACKEND=rq, django-tasks-rq) with a real
`manage.py gallery_rqworker` process: submit -> Redis -> worker -> stored image, and the
recovery sweep re-enqueues lost work through Redis too.

Needs a Redis server: GALLERY_TEST_REDIS_URL (default redis://127.0.0.1:6379/7). The test
uses that one database number only, and empties it before and after."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import Generation
from tests import procs

pytestmark = pytest.mark.system

REDIS_URL = os.environ.get("GALLERY_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_db():
    import redis

    conn = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        conn.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); the rq queue test needs it")
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def test_submit_goes_through_redis_to_an_rq_worker_and_lost_work_is_recovered(
    tmp_path, standin, redis_db
):
    media = tmp_path / "media"
    with procs.scratch_database(tmp_path) as db:
        env = procs.app_env(
            db, media, standin.url,
            GALLERY_TASK_BACKEND="rq", REDIS_URL=REDIS_URL,
            GALLERY_SWEEP_INTERVAL="0.5", GALLERY_QUEUED_GRACE="1",
        )  # fmt: skip
        procs.manage(env, "migrate", "--verbosity", "0")
        old = (timezone.now() - timedelta(minutes=5)).isoformat()
        procs.manage(
            env, "shell", "-c",
            "from gallery.services.intake import submit\n"
            "from gallery.models import Generation\n"
            "submit(prompt='through redis')\n"
            # A row whose enqueue was lost (the web process died before on_commit ran).
            f"Generation.objects.create(prompt='lost on the way', queued_at='{old}')\n",
        )  # fmt: skip
        # The submitted job is in Redis, not in the database queue.
        assert redis_db.llen("rq:queue:default") == 1
        assert procs.count(db, "django_tasks_database_dbtaskresult") == 0

        worker = procs.start(env, "gallery_rqworker", log=tmp_path / "rqworker.log")
        try:
            procs.wait_for(
                lambda: procs.count(db, "gallery_generation", "status='succeeded'") == 2,
                60,
                "both generations to succeed through the rq worker",
            )
        finally:
            procs.stop(worker)
        rows = procs.query(db, "SELECT * FROM gallery_generation ORDER BY id")
    # A work horse forked while the sweep held SQLite's write lock found the database locked
    # for good (the job failed and waited for the next sweep): forks wait for the sweep.
    assert "database is locked" not in (tmp_path / "rqworker.log").read_text()

    assert sorted(r["body"]["prompt"] for r in standin.received) == [
        "lost on the way",
        "through redis",
    ]
    assert all(row["claims"] == 1 and row["task_id"] for row in rows)
    stored = {str(p.relative_to(media)) for p in procs.files_under(media)}
    assert stored == {row[f] for row in rows for f in Generation.FILE_FIELDS}
