"""Many workers, one queue: four real `manage.py gallery_worker` processes pull 200 queued
generations from the database queue at once (on the suite's database: SQLite, or PostgreSQL
with SKIP LOCKED when DATABASE_URL points there). Every generation runs exactly once."""

from collections import Counter

import pytest

from gallery.models import Generation
from tests import procs

pytestmark = pytest.mark.system

WORKERS = 4
JOBS = 200


def test_four_workers_run_two_hundred_generations_each_exactly_once(tmp_path, standin):
    media = tmp_path / "media"
    with procs.scratch_database(tmp_path) as db:
        env = procs.app_env(db, media, standin.url, GALLERY_SWEEP_INTERVAL="1")
        procs.manage(env, "migrate", "--verbosity", "0")
        procs.manage(
            env, "shell", "-c",
            "from gallery.services.intake import submit\n"
            f"for i in range({JOBS}): submit(prompt=f'scale-out {{i}}')",
        )  # fmt: skip
        assert procs.count(db, "gallery_generation") == JOBS

        workers = [procs.start_worker(env, tmp_path / f"worker{n}.log") for n in range(WORKERS)]
        try:
            procs.wait_for(
                lambda: procs.count(db, "gallery_generation", "status='succeeded'") == JOBS,
                180,
                f"{JOBS} generations to succeed",
            )
        finally:
            for worker in workers:
                procs.stop(worker)
        rows = procs.query(db, "SELECT * FROM gallery_generation")

    # One endpoint call per generation: nobody ran a job twice.
    calls = Counter(request["body"]["prompt"] for request in standin.received)
    assert len(standin.received) == JOBS
    assert set(calls) == {f"scale-out {i}" for i in range(JOBS)}
    assert {row["status"] for row in rows} == {"succeeded"}
    assert {(row["claims"], row["attempts"]) for row in rows} == {(1, 1)}
    # Exactly the files each row names (original, thumbnails, preview), nothing else.
    named = {row[f] for row in rows for f in Generation.FILE_FIELDS}
    assert len(named) == len(Generation.FILE_FIELDS) * JOBS
    stored = {str(p.relative_to(media)) for p in procs.files_under(media)}
    assert stored == named
