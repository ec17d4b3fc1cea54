"""The backup and restore steps of docs/deploy.md, for the embedded setup (SQLite + local
media), run as written: back up a live installation with `sqlite3 .backup` and `rsync`,
restore into a fresh data directory, migrate, start the web server, and every image is served
byte for byte. (The portable alternative, export_gallery / import_gallery, has its own
round-trip test in tests/test_cli_processes.py.)"""

import hashlib
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from gallery.models import Generation
from tests import procs
from tests.conftest import is_signed_copy

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        not (shutil.which("sqlite3") and shutil.which("rsync")),
        reason="the documented backup commands need the sqlite3 and rsync programs",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sh(command: str) -> None:
    subprocess.run(["bash", "-euo", "pipefail", "-c", command], check=True, timeout=60)


def test_a_backup_restores_into_a_fresh_data_dir_and_serves_every_image(tmp_path, standin):
    live, backup, fresh = tmp_path / "live", tmp_path / "backup", tmp_path / "fresh"
    env = procs.app_env(f"sqlite:///{live / 'gallery.sqlite3'}", live / "media", standin.url)
    env["GALLERY_DATA_DIR"] = str(live)
    procs.manage(env, "migrate", "--verbosity", "0")
    procs.manage(
        env, "shell", "-c",
        "from gallery.services import intake, worker\n"
        "for p in ('a harbour', 'a lighthouse'): worker.run(intake.submit(prompt=p).pk)",
    )  # fmt: skip
    rows = procs.query(f"sqlite:///{live / 'gallery.sqlite3'}", "SELECT * FROM gallery_generation")
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    originals = {
        r["original"].rsplit("/", 1)[-1]: (live / "media" / r["original"]).read_bytes()
        for r in rows
    }
    digests = {
        (r["public_id"], r[f].rsplit("/", 1)[-1]): _sha(live / "media" / r[f])
        for r in rows
        for f in Generation.FILE_FIELDS
    }

    # Back up (docs/deploy.md, "Backups"): the database first, then the media.
    _sh(f"""
        mkdir -p {backup}
        sqlite3 {live}/gallery.sqlite3 ".backup '{backup}/gallery.sqlite3'"
        rsync -a {live}/media/ {backup}/media/
    """)
    shutil.rmtree(live)  # the machine is lost

    # Restore into a fresh data dir, then migrate (a no-op here; the upgrade step otherwise).
    _sh(f"""
        mkdir -p {fresh}
        cp {backup}/gallery.sqlite3 {fresh}/gallery.sqlite3
        rsync -a {backup}/media/ {fresh}/media/
    """)
    env.update(
        DATABASE_URL=f"sqlite:///{fresh / 'gallery.sqlite3'}",
        MEDIA_ROOT=str(fresh / "media"),
        GALLERY_DATA_DIR=str(fresh),
    )
    procs.manage(env, "migrate", "--verbosity", "0")
    # What `make serve-prod` (the web unit) does before starting the web server.
    env["STATIC_ROOT"] = str(tmp_path / "static")
    procs.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "config.server"],
        cwd=procs.ROOT, env={**env, "PORT": str(port), "WEB_WORKERS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(base + "/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "the web server did not come up"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["queued"] == 0
        for (public_id, filename), digest in digests.items():
            got = requests.get(f"{base}/media/{public_id}/{filename}", timeout=10)
            assert got.status_code == 200
            if filename in originals:  # it leaves as its signed copy, made from the restore
                assert is_signed_copy(got.content, originals[filename], by_this_process=False)
            else:
                assert hashlib.sha256(got.content).hexdigest() == digest
        assert "a lighthouse" in requests.get(base + "/", timeout=10).text
    finally:
        procs.stop(web)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
