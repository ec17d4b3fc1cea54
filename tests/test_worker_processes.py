"""Real `manage.py gallery_worker` processes, stopped the hard way and the polite way.

Each test runs the app against its own SQLite file (so separate processes share it) and the
stand-in endpoint, with a short claim silence so a dead worker's claim lapses in seconds.
"""

import signal
import time
from pathlib import Path

import pytest

from tests import procs

pytestmark = pytest.mark.system

SILENCE = 3.0  # a claim whose worker stopped beating for this long is dead
SWEEP = 0.5
PROMPT = "a harbour at dusk"

# One job, run by real worker processes sharing a SQLite file. Stopping: SIGKILL, the hard
# way, is what a crash looks like; `procs.stop` is only the clean-up.


@pytest.fixture
def app_env(tmp_path, standin):
    standin.latency = 2.0  # a worker is "mid-job" for two seconds
    database_url = f"sqlite:///{tmp_path / 'gallery.sqlite3'}"
    env = procs.app_env(
        database_url, tmp_path / "media", standin.url,
        GALLERY_CONNECT_TIMEOUT="1",
        GALLERY_READ_TIMEOUT="3",
        GALLERY_CLAIM_SILENCE=str(SILENCE),
        GALLERY_HEARTBEAT_INTERVAL="0.5",
        GALLERY_SWEEP_INTERVAL=str(SWEEP),
    )  # fmt: skip
    procs.manage(env, "migrate", "--verbosity", "0")
    procs.manage(
        env, "shell", "-c",
        f"from gallery.services.intake import submit; submit(prompt={PROMPT!r})",
    )  # fmt: skip
    return env


def _row(env) -> dict:
    return procs.query(env["DATABASE_URL"], "SELECT * FROM gallery_generation")[0]


def _files(env) -> list:
    return procs.files_under(Path(env["MEDIA_ROOT"]))


def test_a_worker_killed_during_a_slow_call_loses_its_job_to_the_other_worker_in_seconds(
    app_env, standin
):
    standin.latency = 6.0  # longer than the silence and a sweep: only heartbeats keep it
    app_env["GALLERY_READ_TIMEOUT"] = "15"
    workers = [procs.start_worker(app_env) for _ in range(2)]
    port = standin.server_address[1]
    try:
        procs.wait_for(lambda: standin.received, 30, "a worker to call the endpoint")
        called_at = time.monotonic()
        victim = procs.wait_for(
            lambda: next((w for w in workers if procs.talks_to(w.pid, port)), None),
            5, "the worker in the call",
        )  # fmt: skip
        # Past a silence and a sweep into the call, the live worker still holds its job.
        time.sleep(max(0.0, called_at + SILENCE + SWEEP + 0.5 - time.monotonic()))
        row = _row(app_env)
        assert (row["status"], row["claims"]) == ("running", 1)

        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        # Its claim lapses within a silence, a sweep re-queues it, the other worker claims
        # it at once and makes the image (one more call of `latency`), with room for load.
        row = procs.wait_for(
            lambda: (r := _row(app_env))["status"] == "succeeded" and r,
            SILENCE + SWEEP + standin.latency + 8, "the surviving worker to finish the job",
        )  # fmt: skip
        took = time.monotonic() - killed_at
    finally:
        for proc in workers:
            procs.stop(proc)

    assert took < SILENCE + SWEEP + standin.latency + 8
    assert row["claims"] == 2
    assert [r["body"]["prompt"] for r in standin.received] == [PROMPT, PROMPT]  # twice at most
    assert procs.count(app_env["DATABASE_URL"], "gallery_generation") == 1
    stored = {str(p.relative_to(app_env["MEDIA_ROOT"])) for p in _files(app_env)}
    fields = ("original", "thumbnail", "thumbnail_2x", "preview_image")
    assert stored == {row[f] for f in fields}  # original, two thumbnails, preview: no orphans


def test_a_worker_killed_mid_generation_is_taken_over_by_its_restart_and_runs_once(
    app_env, standin
):
    first = procs.start_worker(app_env)
    try:
        procs.wait_for(lambda: standin.received, 20, "the first worker to call the endpoint")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _row(app_env)["status"] == "running"  # as the dead worker left it
    finally:
        procs.stop(first)

    second = procs.start_worker(app_env)
    try:
        row = procs.wait_for(
            lambda: (r := _row(app_env))["status"] == "succeeded" and r, 30, "the job to finish"
        )
    finally:
        procs.stop(second)

    assert row["claims"] == 2
    assert len(standin.received) == 2
    assert len(_files(app_env)) == 4  # original, two thumbnails, preview: nothing from the dead


def test_a_worker_stopped_twice_with_ctrl_c_hands_its_job_back_at_once(app_env, standin):
    app_env["GALLERY_CLAIM_SILENCE"] = "600"  # so only the hand-back can explain a quick finish
    first = procs.start_worker(app_env)
    try:
        procs.wait_for(lambda: standin.received, 20, "the first worker to call the endpoint")
        first.send_signal(signal.SIGINT)  # graceful: would finish the job...
        time.sleep(0.2)
        first.send_signal(signal.SIGINT)  # ...but a second Ctrl-C stops it now
        first.wait(10)
    finally:
        procs.stop(first)
    row = _row(app_env)
    assert (row["status"], row["claim_token"]) == ("queued", "")

    second = procs.start_worker(app_env)
    try:
        procs.wait_for(lambda: _row(app_env)["status"] == "succeeded", 15, "the job to finish")
    finally:
        procs.stop(second)
    assert len(_files(app_env)) == 4  # original, two thumbnails, preview


def test_one_ctrl_c_lets_the_running_generation_finish(app_env, standin):
    worker = procs.start_worker(app_env)
    try:
        procs.wait_for(lambda: standin.received, 20, "the worker to call the endpoint")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(15) == 0
    finally:
        procs.stop(worker)
    assert _row(app_env)["status"] == "succeeded"
