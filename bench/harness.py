"""Shared plumbing for the production benches (faults.py, load.py, memory.py): a throwaway
installation (SQLite in a temp dir, or any DATABASE_URL), the stand-in endpoint in this
process, real `manage.py gallery_worker` processes and the real web server (config/server.py),
and /proc readings.
Figures are printed, never asserted."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gallery.standin.server import StandinServer  # noqa: E402  (needs ROOT on the path)

__all__ = ["StandinServer"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Install:
    """A data dir, its env, and the processes started for it."""

    def __init__(
        self,
        endpoint_url: str,
        database_url: str | None = None,
        data_dir: str | None = None,
        **extra: str,
    ):
        # `data_dir`: a folder kept between runs (a loaded data set to reuse).
        if data_dir:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix="gallery-prod-bench-"))
        self.database_url = database_url or f"sqlite:///{self.dir / 'gallery.sqlite3'}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "GALLERY_ENV_FILE": "",
            "SECRET_KEY": "bench-" + "k" * 50,
            "DATABASE_URL": self.database_url,
            "GALLERY_DATA_DIR": str(self.dir),
            "MEDIA_ROOT": str(self.dir / "media"),
            "STATIC_ROOT": str(self.dir / "static"),
            "SDXL_ENDPOINT_URL": endpoint_url,
            "OVH_AI_ENDPOINTS_ACCESS_TOKEN": "",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
            capture_output=True, text=True, timeout=600,
        ).stdout  # fmt: skip

    def submit(self, n: int, prefix: str = "bench") -> None:
        self.manage(
            "shell", "-c",
            "from gallery.services.intake import submit\n"
            f"for i in range({n}): submit(prompt=f'{prefix} {{i}}')",
        )  # fmt: skip

    def worker(self, script: str = "manage.py", **env: str) -> subprocess.Popen:
        """A `gallery_worker` process; `script` may be a stand-in for manage.py that changes
        the worker first (bench/slow_disk_worker.py); `env` adds to its environment."""
        proc = subprocess.Popen(
            [sys.executable, script, "gallery_worker", "--no-reload", "--no-startup-delay",
             "--interval", "0.2"],
            cwd=ROOT, env={**self.env, **env}, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "workers.log", "ab"),  # noqa: SIM115  (the child keeps it)
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def web(
        self,
        workers: int = 2,
        server: str = "uvicorn",
        *,
        root: Path = ROOT,
        static_files: dict[str, bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[subprocess.Popen, str]:
        """The web server (config/server.py) run from `root` (another checkout of the project,
        e.g. a git worktree of an earlier commit, to measure it on the same data), with
        `static_files` added to the collected static files before it starts; or, for
        comparison, the gunicorn threads `make run` used before (`server="gunicorn"`)."""
        port = free_port()
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        for name, data in (static_files or {}).items():
            (self.dir / "static" / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / "static" / name).write_bytes(data)
        # The server's own defaults otherwise (recycling, access log): what `make run` serves.
        env = {**self.env, "PORT": str(port), "WEB_WORKERS": str(workers), **(env or {})}
        argv = [sys.executable, "-m", "config.server"]
        if server == "gunicorn":
            argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind",
                    f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4",
                    "--access-logfile", "/dev/null", "--no-control-socket"]  # fmt: skip
        proc = subprocess.Popen(
            argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        import requests

        for _ in range(300):
            try:
                requests.get(url + "/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        return proc, url

    def query(self, sql: str) -> list[dict[str, Any]]:
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=30) as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute(sql).fetchall()]
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.database_url, row_factory=dict_row, connect_timeout=5) as c:
            return list(c.execute(sql).fetchall())

    def counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, COUNT(*) AS n FROM gallery_generation GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(condition, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def rss_kib(pid: int) -> int:
    """Resident size of a process, in KiB (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def tree_pids(pid: int) -> list[int]:
    """A process and its children (the web server's parent and its processes)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids = (task / "children").read_text().split()
            pids.extend(int(k) for k in kids)
    except OSError:
        pass
    return pids


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


MACHINE_NOTE = (
    f"machine: {os.cpu_count()} CPU cores shared with other developers' runs; "
    f"load average at start {os.getloadavg()[0]:.1f}"
)


def setup_django(
    tmp: Path,
    database_url: str | None,
    *,
    settings_module: str = "config.settings_test",
    test_environment: bool = False,
) -> None:
    """Set up Django in this process on a throwaway data dir, then migrate. For the benches
    that time the app's own code in-process (ingest.py, gallery.py, admin.py)."""
    # Never read the developer's .env (a real token, a real database).
    os.environ["GALLERY_ENV_FILE"] = ""
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
    # The test settings serve static files from the source folders (no collectstatic).
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ["GALLERY_DATA_DIR"] = str(tmp)
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    # The default is a SQLite file in tmp; a DATABASE_URL left in the shell must not win.
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    django.setup()
    if test_environment:
        setup_test_environment()  # responses carry their template context
    call_command("migrate", verbosity=0)
