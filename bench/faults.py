"""Fault evidence: one of two workers killed with SIGKILL (during its endpoint call, and while
it stores the image; no replacement is started), a web server process killed, the endpoint
down for 30 s, the disk full while storing, a PostgreSQL server restarted mid-run, and an
endpoint failing 30% of calls. For each: are all generations done exactly once, or failed
with a reason, with none stuck and no orphan file? Prints figures; asserts nothing.

    .venv/bin/python bench/faults.py              # all of them
    .venv/bin/python bench/faults.py --only kill  # kill | web | down | full | postgres | flaky

The PostgreSQL scenario starts a PRIVATE cluster (initdb + pg_ctl from
/usr/lib/postgresql/*/bin, in a temp dir, on a free port, as the `postgres` OS user when run
as root) and restarts that one; it never touches a shared server.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import MACHINE_NOTE, Install, StandinServer, free_port, wait_until

# The original, two thumbnails and the preview.
FILES_PER_IMAGE = 4
FILE_FIELDS = ("original", "thumbnail", "thumbnail_2x", "preview_image")


def _report(name: str, inst: Install, standin: StandinServer, n: int, extra: str = "") -> None:
    rows = inst.query("SELECT * FROM gallery_generation")
    status = Counter(r["status"] for r in rows)
    calls = Counter(r["body"]["prompt"] for r in standin.received)
    media_root = inst.dir / "media"
    media = {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}
    named = {r[f] for r in rows for f in FILE_FIELDS if r[f]}
    stuck = status.get("queued", 0) + status.get("running", 0)
    no_reason = sum(1 for r in rows if r["status"] == "failed" and not r["failure_reason"])
    print(f"\n== {name}")
    print(f"  generations {n}: {dict(status)}; lost {n - len(rows)}; stuck {stuck}; "
          f"failed without a reason {no_reason}")  # fmt: skip
    print(f"  endpoint calls {len(standin.received)} for {len(calls)} prompts "
          f"(prompts called more than once: {sum(1 for c in calls.values() if c > 1)}); "
          f"claims per row {dict(Counter(r['claims'] for r in rows))}")  # fmt: skip
    done = status.get("succeeded", 0)
    print(f"  files {len(media)} for {done} succeeded rows "
          f"({FILES_PER_IMAGE} each -> {FILES_PER_IMAGE * done}); "
          f"orphans {len(media - named)}; missing {len(named - media)}")  # fmt: skip
    if extra:
        print("  " + extra)


def kill_worker() -> None:
    """kill -9 one of two workers with the default claim silence (30 s), heartbeat (10 s) and
    sweep (10 s), and start no replacement: the surviving worker must take the job. Once
    halfway through the victim's endpoint call, once while it writes the image's files (on a
    slow disk, 1 s a file, so that the kill lands between its first file and its commit)."""
    _kill_one_of_two("call")
    _kill_one_of_two("store")


KILL_LATENCY = 4.0  # seconds per image


def _kill_one_of_two(moment: str) -> None:
    from gallery.services import storage

    # Few enough that the survivor has done the other jobs when the killed one is re-queued
    # (it goes to the back of the task queue): the figures measure the recovery itself.
    n = 6
    standin = StandinServer(("127.0.0.1", 0), latency=KILL_LATENCY).start()
    inst = Install(standin.url)
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, f"kill-{moment}")
        # The victim starts alone, so the first call is its own; the survivor right after.
        victim = inst.worker("manage.py" if moment == "call" else "bench/slow_disk_worker.py")
        wait_until(lambda: standin.received, 60, 0.01)
        prompt = standin.received[0]["body"]["prompt"]
        inst.worker()
        job = inst.query(
            f"SELECT id, public_id, claim_token FROM gallery_generation WHERE prompt = '{prompt}'"
        )[0]
        dead_files = [
            inst.dir / "media" / name
            for name in storage.possible_files(job["public_id"], job["claim_token"])
        ]
        if moment == "call":
            time.sleep(KILL_LATENCY / 2)
        else:
            # The first file of its claim is on disk: it is storing. Kill within its second.
            wait_until(lambda: any(p.exists() for p in dead_files), 60, 0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        left = sum(1 for p in dead_files if p.exists())
        status = inst.query(f"SELECT status FROM gallery_generation WHERE id = {job['id']}")
        landed = status[0]["status"] == "running"

        seen: dict[str, float] = {}

        def follow() -> bool:
            row = inst.query(
                f"SELECT status, claims FROM gallery_generation WHERE id = {job['id']}"
            )
            now = time.monotonic() - killed_at
            if row[0]["status"] == "queued":
                seen.setdefault("re-queued", now)
            if row[0]["claims"] >= 2:
                seen.setdefault("claimed again", now)
            if row[0]["status"] == "succeeded":
                seen.setdefault("done", now)
            if inst.counts().get("succeeded", 0) == n:
                seen.setdefault(f"all {n} done", now)
                return "done" in seen
            return False

        ok = wait_until(follow, 180, 0.1)
        again = sum(1 for r in standin.received if r["body"]["prompt"] == prompt)
        times = ", ".join(f"{what} {at:.1f} s" for what, at in seen.items())
        where = {"call": "halfway through its endpoint call",
                 "store": "while it wrote the image's files (slow disk)"}[moment]  # fmt: skip
        _report(
            f"kill -9 one of 2 workers {where} ({KILL_LATENCY:.0f} s per image; "
            "silence 30 s, heartbeat 10 s, sweep 10 s; no restart)",
            inst, standin, n,
            f"the kill landed before the job's commit: {landed}; the dead claim had written "
            f"{left} files\n  seconds after the kill: {times} (within 180 s: {ok}); "
            f"endpoint calls for the killed job's prompt {again}",
        )  # fmt: skip
    finally:
        inst.stop()
        standin.stop()


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("no /usr/lib/postgresql/*/bin/initdb")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> None:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def postgres_restart() -> None:
    n = 60
    pg = _pg_bin()
    datadir = Path(tempfile.mkdtemp(prefix="gallery-bench-pg-"))
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    _as_postgres([str(pg / "initdb"), "-D", str(datadir / "data"), "-A", "trust", "-U",
                  "postgres", "--no-sync"])  # fmt: skip
    opts = f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(pg / "pg_ctl"), "-D", str(datadir / "data"), "-o", opts, "-w", "-l",
              str(datadir / "log")]  # fmt: skip
    _as_postgres([*pg_ctl, "start"])
    standin = StandinServer(("127.0.0.1", 0), latency=0.5).start()
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    inst = Install(standin.url, url, GALLERY_CONNECT_TIMEOUT="1", GALLERY_READ_TIMEOUT="5",
                   GALLERY_SWEEP_INTERVAL="0.5", GALLERY_QUEUED_GRACE="5")  # fmt: skip
    restarts = 0
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, "pg")
        workers = [inst.worker() for _ in range(3)]
        wait_until(lambda: len(standin.received) >= 15, 60, 0.05)
        _as_postgres([*pg_ctl, "-m", "fast", "restart"])
        restarted_at = time.monotonic()

        def done() -> bool:
            nonlocal restarts
            # What systemd's Restart=always does for a worker that exited.
            for i, w in enumerate(workers):
                if w.poll() is not None:
                    restarts += 1
                    workers[i] = inst.worker()
            try:
                counts = inst.counts()
            except Exception:
                return False
            return counts.get("succeeded", 0) + counts.get("failed", 0) == n

        ok = wait_until(done, 240)
        _report("PostgreSQL restarted mid-run (private cluster, 3 workers, 0.5 s per image)",
                inst, standin, n,
                f"all finished {ok}, {time.monotonic() - restarted_at:.1f} s after the restart; "
                f"workers that exited and were restarted: {restarts}")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()
        _as_postgres([*pg_ctl, "-m", "immediate", "stop"])
        shutil.rmtree(datadir, ignore_errors=True)


def flaky_endpoint() -> None:
    n = 100
    standin = StandinServer(("127.0.0.1", 0), latency=0.1, fail_rate=0.3, retry_after=1).start()
    inst = Install(standin.url, GALLERY_RETRY_BASE_DELAY="0.2", GALLERY_RETRY_MAX_DELAY="2",
                   GALLERY_MAX_ATTEMPTS="4")  # fmt: skip
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, "flaky")
        started = time.monotonic()
        for _ in range(4):
            inst.worker()
        ok = wait_until(
            lambda: sum(inst.counts().get(s, 0) for s in ("succeeded", "failed")) == n, 300
        )
        reasons = Counter(
            r["failure_reason"]
            for r in inst.query(
                "SELECT failure_reason FROM gallery_generation WHERE status='failed'"
            )
        )
        _report("endpoint failing 30% of calls with 5xx/429 (4 workers, up to 4 attempts)",
                inst, standin, n,
                f"all finished {ok} in {time.monotonic() - started:.1f} s; "
                f"expected failures ~{n * 0.3**4:.1f}; reasons {dict(reasons)}")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()


def web_killed() -> None:
    """kill -9 one of the web server's two processes while a client keeps asking for pages
    and images are made: how many requests fail, and when is a replacement serving?"""
    import requests

    n = 10
    standin = StandinServer(("127.0.0.1", 0), latency=1.0).start()
    inst = Install(standin.url)
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, "web")
        inst.worker()
        web, url = inst.web(workers=2)
        before = set(_children(web.pid))
        results: list[tuple[float, bool]] = []
        stop = time.monotonic() + 20
        victim = sorted(before)[0]
        killed_at = 0.0
        while time.monotonic() < stop:
            if not killed_at and time.monotonic() > stop - 15:
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
            try:
                ok = requests.get(url + "/", timeout=5).ok
            except requests.RequestException:
                ok = False
            results.append((time.monotonic(), ok))
            time.sleep(0.02)
        replaced = set(_children(web.pid)) - before
        failed = [t for t, ok in results if not ok]
        last_failure = f"{max(failed) - killed_at:.1f} s after the kill" if failed else "none"
        wait_until(lambda: sum(inst.counts().get(s, 0) for s in ("succeeded", "failed")) == n,
                   120)  # fmt: skip
        _report("kill -9 one of 2 web server processes while a client browses", inst, standin, n,
                f"requests {len(results)}, failed {len(failed)} (last failure: {last_failure}); "
                f"a replacement process started: {bool(replaced)}")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()


def _children(pid: int) -> list[int]:
    """The web server's worker processes (not multiprocessing's resource tracker)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout  # fmt: skip
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]


def endpoint_down() -> None:
    """The endpoint is unreachable for 30 s in the middle of a run (connection refused)."""
    n = 20
    standin = StandinServer(("127.0.0.1", 0), latency=1.0).start()
    port = standin.server_address[1]
    inst = Install(standin.url)
    received = []
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, "down")
        inst.worker(), inst.worker()
        wait_until(lambda: inst.counts().get("succeeded", 0) >= 4, 60, 0.1)
        standin.stop()
        received += standin.received
        down_at = time.monotonic()
        time.sleep(30)
        standin = StandinServer(("127.0.0.1", port), latency=1.0).start()
        up_at = time.monotonic()
        first: list[float] = []
        done_before = inst.counts().get("succeeded", 0)

        def finished() -> bool:
            counts = inst.counts()
            if counts.get("succeeded", 0) > done_before and not first:
                first.append(time.monotonic() - up_at)
            return counts.get("succeeded", 0) + counts.get("failed", 0) == n

        wait_until(finished, 180, 0.2)
        standin.received = received + standin.received
        reasons = Counter(r["failure_reason"] for r in inst.query(
            "SELECT failure_reason FROM gallery_generation WHERE status = 'failed'"))  # fmt: skip
        _report("the endpoint refuses connections for 30 s mid-run (2 workers, 1 s per image, "
                "default retries: 6 attempts, 2 s doubling)", inst, standin, n,
                f"outage {up_at - down_at:.0f} s; first success {first[0] if first else '-'} s "
                f"after it came back; failed with a reason {dict(reasons)}")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()


def disk_full() -> None:
    """MEDIA_ROOT on a tiny tmpfs that fills up while images are stored (needs root to
    mount; skipped otherwise), then is given room again."""
    n = 12
    mount = Path(tempfile.mkdtemp(prefix="gallery-full-"))
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                       check=True, capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"\n== disk full while storing: skipped (cannot mount a tmpfs: {exc})")
        return
    standin = StandinServer(("127.0.0.1", 0), latency=0.2).start()
    inst = Install(standin.url, MEDIA_ROOT=str(mount))
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.submit(n, "full")
        inst.worker()
        wait_until(lambda: sum(inst.counts().get(s, 0) for s in ("succeeded", "failed")) == n,
                   120)  # fmt: skip
        rows = inst.query("SELECT * FROM gallery_generation")
        named = {r[f] for r in rows for f in FILE_FIELDS if r[f]}
        on_disk = {str(p.relative_to(mount)) for p in mount.rglob("*") if p.is_file()}
        reasons = Counter(r["failure_reason"] for r in rows if r["status"] == "failed")
        print(f"\n== disk full while storing (MEDIA_ROOT on a 3 MiB tmpfs, {n} images)")
        print(f"  {dict(Counter(r['status'] for r in rows))}; stuck "
              f"{sum(1 for r in rows if r['status'] in ('queued', 'running'))}; "
              f"failed reasons {dict(reasons)}")  # fmt: skip
        print(f"  files {len(on_disk)} for {len(named)} named by rows; orphans "
              f"{len(on_disk - named)}; missing {len(named - on_disk)}")  # fmt: skip
        # Room again: a retry of each failed image succeeds.
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        roomy = time.monotonic()
        inst.manage("shell", "-c", (
            "from gallery.models import Generation\nfrom gallery.services import intake\n"
            "for g in Generation.objects.filter(status='failed'): intake.retry(g)"))  # fmt: skip
        wait_until(lambda: inst.counts().get("succeeded", 0) == n, 120, 0.2)
        print(f"  after making room and retrying the failed ones: {inst.counts()} in "
              f"{time.monotonic() - roomy:.1f} s")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()
        subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=list(SCENARIOS))
    args = parser.parse_args()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["GALLERY_ENV_FILE"] = ""
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 50)
    django.setup()  # the stand-in's drawing needs no database, but imports settings
    print(MACHINE_NOTE)
    for name, run in SCENARIOS.items():
        if args.only in (None, name):
            run()


SCENARIOS = {
    "kill": kill_worker,
    "web": web_killed,
    "down": endpoint_down,
    "full": disk_full,
    "postgres": postgres_restart,
    "flaky": flaky_endpoint,
}

if __name__ == "__main__":
    main()
