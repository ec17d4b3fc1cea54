"""Real `manage.py gallery_worker` processes, stopped the hard way and the polite way.

Each test runs the app against its own SQLite file (so separate processes share it) and the
stand-in endpoint, with short timeouts so a dead worker's lease runs out in seconds.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_env(tmp_path, standin):
    standin.latency = 2.0  # a worker is "mid-job" for two seconds
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GALLERY_ENV_FILE": "",
        "SECRET_KEY": "worker-test-" + "k" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gallery.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SDXL_ENDPOINT_URL": standin.url,
        "GALLERY_CONNECT_TIMEOUT": "1",
        "GALLERY_READ_TIMEOUT": "3",
        "GALLERY_LEASE_MARGIN": "0.5",  # lease: 1 + 3 + 0.5 s
        "GALLERY_SWEEP_INTERVAL": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    _manage(env, "migrate", "--verbosity", "0")
    _manage(
        env,
        "shell",
        "-c",
        "from gallery.services.generation import submit; submit(prompt='a harbour at dusk')",
    )
    env["_DB"] = str(tmp_path / "gallery.sqlite3")
    env["_MEDIA"] = str(tmp_path / "media")
    return env


def _manage(env, *args):
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip


def _start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "gallery_worker", "--no-reload", "--no-startup-delay",
         "--interval", "0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _row(env) -> dict:
    with sqlite3.connect(env["_DB"]) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM gallery_generation").fetchone())


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _files(env) -> list[Path]:
    return [p for p in Path(env["_MEDIA"]).rglob("*") if p.is_file()]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_a_worker_killed_mid_generation_is_taken_over_and_the_job_runs_once(app_env, standin):
    first = _start_worker(app_env)
    try:
        _wait_for(lambda: standin.received, 20, "the first worker to call the endpoint")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _row(app_env)["status"] == "running"  # as the dead worker left it
    finally:
        _stop(first)

    second = _start_worker(app_env)
    try:
        row = _wait_for(
            lambda: (r := _row(app_env))["status"] == "succeeded" and r, 30, "the job to finish"
        )
    finally:
        _stop(second)

    assert row["claims"] == 2
    assert len(standin.received) == 2
    assert len(_files(app_env)) == 4  # original, two thumbnails, preview: nothing from the dead


def test_a_worker_stopped_twice_with_ctrl_c_hands_its_job_back_at_once(app_env, standin):
    app_env["GALLERY_LEASE_MARGIN"] = "600"  # so only the hand-back can explain a quick finish
    first = _start_worker(app_env)
    try:
        _wait_for(lambda: standin.received, 20, "the first worker to call the endpoint")
        first.send_signal(signal.SIGINT)  # graceful: would finish the job...
        time.sleep(0.2)
        first.send_signal(signal.SIGINT)  # ...but a second Ctrl-C stops it now
        first.wait(10)
    finally:
        _stop(first)
    row = _row(app_env)
    assert (row["status"], row["claim_token"]) == ("queued", "")

    second = _start_worker(app_env)
    try:
        _wait_for(lambda: _row(app_env)["status"] == "succeeded", 15, "the job to finish")
    finally:
        _stop(second)
    assert len(_files(app_env)) == 4  # original, two thumbnails, preview


def test_one_ctrl_c_lets_the_running_generation_finish(app_env, standin):
    worker = _start_worker(app_env)
    try:
        _wait_for(lambda: standin.received, 20, "the worker to call the endpoint")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(15) == 0
    finally:
        _stop(worker)
    assert _row(app_env)["status"] == "succeeded"
