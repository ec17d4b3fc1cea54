"""`make run`'s supervisor with real child processes: one that dies is started again, one
that keeps failing stops the app with a reason, and stopping keeps the stand-in for last."""

import sys
import threading
import time
from pathlib import Path

import pytest

from gallery.management.supervisor import Child, Supervisor, describe

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _supervisor(children, said, **kwargs) -> Supervisor:
    return Supervisor(children, env={}, cwd=ROOT, say=said.append, **kwargs)


def _watch_until(supervisor, condition, timeout=20.0) -> str | None:
    deadline = time.monotonic() + timeout
    return supervisor.watch(lambda: condition() or time.monotonic() > deadline, every=0.05)


def test_a_child_that_dies_is_started_again_after_a_pause(tmp_path):
    starts = tmp_path / "starts"
    # Appends a line per start; the first run dies at once (as if killed), later runs stay.
    code = (
        f"import os, time; p = {str(starts)!r}; open(p, 'a').write('x')\n"
        "if len(open(p).read()) == 1: os.kill(os.getpid(), 9)\n"
        "time.sleep(60)"
    )
    said: list[str] = []
    worker = Child("worker 1", _python(code))
    supervisor = _supervisor([worker], said, backoff=(0.5,))
    supervisor.start()
    try:
        failure = _watch_until(supervisor, lambda: starts.exists() and starts.read_text() == "xx")
        assert failure is None
        assert starts.read_text() == "xx"
        assert (
            said[0]
            == "worker 1 exited unexpectedly (killed by SIGKILL); starting it again in 0.5 s."
        )
        assert "Starting worker 1 again." in said
        assert worker.proc.poll() is None  # the new one runs
    finally:
        supervisor.stop(already_told=False, asked_again=lambda: False)
    assert worker.proc.poll() is not None


def test_a_child_that_keeps_failing_at_start_stops_everything_and_says_which():
    said: list[str] = []
    broken = Child("web server", _python("import sys; sys.exit(3)"))
    healthy = Child("worker 1", _python("import time; time.sleep(60)"))
    supervisor = _supervisor([healthy, broken], said, backoff=(0.1, 0.2))
    supervisor.start()
    try:
        failure = _watch_until(supervisor, lambda: False)
    finally:
        supervisor.stop(already_told=False, asked_again=lambda: False)
    assert failure == (
        "web server keeps failing: it exited 3 times in a row within 10 s of starting "
        "(last: status 3). See its output above; stopping everything."
    )
    assert [line for line in said if line.startswith("web server exited")] == [
        "web server exited unexpectedly (status 3); starting it again in 0.1 s.",
        "web server exited unexpectedly (status 3); starting it again in 0.2 s.",
    ]
    assert healthy.proc.poll() is not None  # the others are stopped too


def test_stopping_keeps_the_last_group_until_the_others_have_finished(tmp_path):
    log = tmp_path / "log"
    # The worker takes a second to finish its job after SIGTERM; the stand-in notes when it
    # was told to stop. Both append to the same file.
    worker_code = (
        "import signal, sys, time\n"
        f"def done(*a):\n    time.sleep(1); open({str(log)!r}, 'a').write('worker done\\n'); "
        "sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, done)\ntime.sleep(60)"
    )
    standin_code = (
        "import signal, sys, time\n"
        f"def done(*a):\n    open({str(log)!r}, 'a').write('stand-in stopped\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, done)\ntime.sleep(60)"
    )
    said: list[str] = []
    standin = Child("stand-in", _python(standin_code), last=True)
    worker = Child("worker 1", _python(worker_code))
    supervisor = _supervisor([standin, worker], said)
    supervisor.start()
    time.sleep(1.0)  # both have installed their handlers
    supervisor.stop(already_told=False, asked_again=lambda: False)
    assert log.read_text().splitlines() == ["worker done", "stand-in stopped"]


def test_a_second_ctrl_c_forces_the_workers(tmp_path):
    # A worker that would take 60 s to finish: a second signal must cut that short.
    code = "import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: None)\ntime.sleep(60)"
    said: list[str] = []
    worker = Child("worker 1", _python(code))
    supervisor = _supervisor([worker], said, stop_grace=60.0)
    supervisor.start()
    time.sleep(0.5)
    asked = threading.Event()
    threading.Timer(0.5, asked.set).start()
    started = time.monotonic()
    supervisor.stop(already_told=False, asked_again=asked.is_set)
    assert time.monotonic() - started < 10
    assert worker.proc.poll() is not None


def test_exit_statuses_read_as_words():
    assert describe(1) == "status 1"
    assert describe(-9) == "killed by SIGKILL"
    assert describe(-15) == "killed by SIGTERM"
