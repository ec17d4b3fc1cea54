"""The queue with real `manage.py gallery_worker` processes: fair turns between people, and a
cancelled image that never reaches the endpoint."""

from pathlib import Path

import pytest

from tests import procs

pytestmark = pytest.mark.system


@pytest.fixture
def app_env(tmp_path, standin):
    env = procs.app_env(
        f"sqlite:///{tmp_path / 'gallery.sqlite3'}", tmp_path / "media", standin.url,
        GALLERY_DAILY_QUOTA="0",
        GALLERY_SUBMIT_RATE="0",
    )  # fmt: skip
    procs.manage(env, "migrate", "--verbosity", "0")
    procs.manage(
        env, "shell", "-c",
        "from django.contrib.auth.models import User\n"
        "User.objects.create_user('ann'); User.objects.create_user('ben')",
    )  # fmt: skip
    return env


def _submit(env: dict, username: str, prompts: list[str]) -> None:
    procs.manage(
        env, "shell", "-c",
        "from django.contrib.auth.models import User\n"
        "from gallery.services.intake import submit\n"
        f"owner = User.objects.get(username={username!r})\n"
        f"for p in {prompts!r}: submit(prompt=p, owner=owner)",
    )  # fmt: skip


def _rows(env: dict) -> list[dict]:
    return procs.query(
        env["DATABASE_URL"],
        "SELECT g.*, u.username FROM gallery_generation g JOIN auth_user u ON u.id = g.owner_id",
    )


def test_one_image_of_b_starts_within_two_claims_while_a_has_twenty_waiting(
    app_env, standin, tmp_path
):
    standin.latency = 0.4
    _submit(app_env, "ann", [f"ann {n}" for n in range(20)])
    workers = [procs.start_worker(app_env, log=tmp_path / f"w{n}.log") for n in range(2)]
    try:
        # Ann's images are moving; twenty of hers are still (nearly all) waiting.
        procs.wait_for(lambda: len(standin.received) >= 2, 30, "Ann's first images to start")
        started_before = sum(1 for r in _rows(app_env) if r["started_at"])
        _submit(app_env, "ben", ["ben's only image"])
        ben = procs.wait_for(
            lambda: next(
                (r for r in _rows(app_env) if r["username"] == "ben" and r["started_at"]), None
            ),
            30, "Ben's image to start",
        )  # fmt: skip
        rows = _rows(app_env)
    finally:
        for proc in workers:
            procs.stop(proc)

    ann_started_first = sum(
        1
        for r in rows
        if r["username"] == "ann" and r["started_at"] and r["started_at"] < ben["started_at"]
    )
    # At most two of Ann's claims came between Ben's submission and his image starting.
    assert ann_started_first - started_before <= 2, (started_before, ann_started_first)
    assert sum(1 for r in rows if r["username"] == "ann" and r["status"] == "queued") >= 10


def test_a_cancelled_image_never_reaches_the_endpoint(app_env, standin, tmp_path):
    standin.latency = 2.0  # the first image holds the only worker while the second is cancelled
    _submit(app_env, "ann", ["the first image", "the cancelled image"])
    worker = procs.start_worker(app_env, log=tmp_path / "worker.log")
    try:
        procs.wait_for(lambda: standin.received, 30, "the first image to start")
        cancelled = procs.manage(
            app_env, "shell", "-c",
            "from gallery.models import Generation\n"
            "from gallery.services import queue\n"
            "print(queue.cancel(Generation.objects.get(prompt='the cancelled image')))",
        )  # fmt: skip
        procs.wait_for(
            lambda: [r["status"] for r in _rows(app_env)] == ["succeeded"], 30,
            "the first image to finish",
        )  # fmt: skip
        # The cancelled image's task wakes the worker too: give it time to find nothing.
        procs.wait_for(
            lambda: procs.count(app_env["DATABASE_URL"], "django_tasks_database_dbtaskresult",
                                "status IN ('READY', 'RUNNING')") == 0,
            30, "both tasks to be done",
        )  # fmt: skip
    finally:
        procs.stop(worker)

    assert cancelled.strip().splitlines()[-1] == "True"
    assert [r["body"]["prompt"] for r in standin.received] == ["the first image"]
    assert len(procs.files_under(Path(app_env["MEDIA_ROOT"]))) == 4  # only the first's files
