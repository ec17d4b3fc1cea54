"""Real `manage.py gallery_worker` processes, stopped the hard way and the polite way.

Each test runs the app against its own SQLite file (so separate processes share it) and the
stand-in endpoint, with short timeouts so a dead worker's lease runs out in seconds.
"""

import signal
import time
from pathlib import Path

import pytest

from tests import procs

pytestmark = pytest.mark.system

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
        GALLERY_LEASE_MARGIN="0.5",  # lease: 1 + 3 + 0.5 s
        GALLERY_SWEEP_INTERVAL="0.2",
    )  # fmt: skip
    procs.manage(env, "migrate", "--verbosity", "0")
    procs.manage(
        env, "shell", "-c",
        "from gallery.services.intake import submit; submit(prompt='a harbour at dusk')",
    )  # fmt: skip
    return env


def _row(env) -> dict:
    return procs.query(env["DATABASE_URL"], "SELECT * FROM gallery_generation")[0]


def _files(env) -> list:
    return procs.files_under(Path(env["MEDIA_ROOT"]))


def test_a_worker_killed_mid_generation_is_taken_over_and_the_job_runs_once(app_env, standin):
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
    app_env["GALLERY_LEASE_MARGIN"] = "600"  # so only the hand-back can explain a quick finish
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
