"""Helpers for tests that run the app as real processes (`manage.py gallery_worker`, ...)
against a database of their own: a SQLite file, or a scratch database on the PostgreSQL
server the suite runs on (DATABASE_URL), created and dropped by the test."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def suite_uses_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """A DATABASE_URL for an empty database of the suite's kind, removed afterwards."""
    if not suite_uses_postgres():
        yield f"sqlite:///{tmp_path / 'gallery.sqlite3'}"
        return
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"gallery_scratch_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A throwaway database need not wait for the disk on every commit (the shared
        # server's fsyncs dominate otherwise); the server's own settings are untouched.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield urlunsplit(base._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_env(database_url: str, media_root: Path, endpoint_url: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GALLERY_ENV_FILE": "",
        "SECRET_KEY": "process-test-" + "k" * 40,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "SDXL_ENDPOINT_URL": endpoint_url,
        "OVH_AI_ENDPOINTS_ACCESS_TOKEN": "",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def manage(env: dict, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=False,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode:
        raise AssertionError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def start(env: dict, *args: str, log: Path | None = None) -> subprocess.Popen:
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip


def start_worker(env: dict, log: Path | None = None) -> subprocess.Popen:
    return start(
        env, "gallery_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1", log=log
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(10)


def query(database_url: str, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, read straight from the app's database (not the test database)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=20) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql).fetchall()]
    import psycopg
    from psycopg.rows import dict_row

    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return list(conn.execute(sql).fetchall())


def count(database_url: str, table: str, where: str = "") -> int:
    """Rows in `table` of the app's database, optionally `where` a condition holds."""
    sql = f"SELECT COUNT(*) AS n FROM {table}" + (f" WHERE {where}" if where else "")
    return query(database_url, sql)[0]["n"]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def talks_to(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP connection open to local `port` (Linux /proc): which
    of several workers is the one calling the stand-in endpoint."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if inode in sockets and remote_port == port and state == "01":  # ESTABLISHED
                return True
    return False
