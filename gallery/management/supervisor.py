"""The process supervisor behind `manage.py up` (`make run`): start the children, restart one
that exits unexpectedly, stop them in order.

- A child that exits while the app is running is started again after a growing pause
  (1 s, 2 s, 4 s ...), and the terminal says so. Only a child that keeps failing right after
  it starts (QUICK_EXITS times in a row, each within QUICK seconds) stops the whole app,
  saying which child and why: restarting it again would not help.
- Stopping: the web server and the workers first (a worker finishes or hands back its job),
  and only then the children marked `last` (the offline stand-in those jobs are talking to).
  Those run in a session of their own, so the terminal's Ctrl-C does not reach them early.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A child that exits within QUICK seconds of starting, QUICK_EXITS times in a row, is broken.
QUICK = 10.0
QUICK_EXITS = 3
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# How long the web server and workers get to stop before they are killed.
STOP_GRACE = 30.0


@dataclass
class Child:
    name: str
    argv: list[str]
    last: bool = False  # stopped after the others
    proc: subprocess.Popen | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


def describe(returncode: int) -> str:
    """'status 1', or 'killed by SIGKILL' for a child a signal ended."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        *,
        env: dict[str, str],
        cwd: Path,
        say: Callable[[str], None],
        quick: float = QUICK,
        backoff: tuple[float, ...] = BACKOFF,
        stop_grace: float = STOP_GRACE,
    ):
        self.children = children
        self.env, self.cwd, self.say = env, cwd, say
        self.quick, self.backoff, self.stop_grace = quick, backoff, stop_grace

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        # Our own interpreter and fixed arguments: no untrusted input.
        child.proc = subprocess.Popen(  # noqa: S603
            child.argv, env=self.env, cwd=self.cwd, start_new_session=child.last
        )
        child.started = time.monotonic()
        child.restart_at = None

    def watch(self, stopping: Callable[[], bool], every: float = 0.3) -> str | None:
        """Run until `stopping()` is true (returns None) or a child keeps failing (returns
        what to tell the user)."""
        while not stopping():
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self.say(f"Starting {child.name} again.")
                        self._spawn(child)
                    continue
                assert child.proc is not None
                if child.proc.poll() is None:
                    continue
                how = describe(child.proc.returncode)
                quick = now - child.started < self.quick
                child.quick_exits = child.quick_exits + 1 if quick else 1
                if quick and child.quick_exits >= QUICK_EXITS:
                    return (
                        f"{child.name} keeps failing: it exited {child.quick_exits} times in a "
                        f"row within {self.quick:.0f} s of starting (last: {how}). See its "
                        "output above; stopping everything."
                    )
                pause = self.backoff[min(child.quick_exits, len(self.backoff)) - 1]
                self.say(f"{child.name} exited unexpectedly ({how}); starting it again in "
                         f"{pause:g} s.")  # fmt: skip
                child.restart_at = now + pause
            time.sleep(every)
        return None

    def stop(self, *, already_told: bool, asked_again: Callable[[], bool]) -> None:
        """Stop the first group (unless a Ctrl-C reached it already), wait for it, then the
        `last` group. `asked_again()` true means a second Ctrl-C: force the first group."""
        first = [c.proc for c in self.children if not c.last and c.restart_at is None]
        last = [c.proc for c in self.children if c.last and c.restart_at is None]
        running = [p for p in first if p is not None]
        if not already_told:
            _terminate(running)
        deadline = time.monotonic() + self.stop_grace
        forced = False
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            if not forced and asked_again():
                _terminate(running)  # a second signal: the workers hand back their jobs
                forced = True
                deadline = min(deadline, time.monotonic() + 5)
            time.sleep(0.1)
        _kill(running)
        tail = [p for p in last if p is not None]
        _terminate(tail)
        deadline = time.monotonic() + 5
        while any(p.poll() is None for p in tail) and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill(tail)


def _terminate(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()


def _kill(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
