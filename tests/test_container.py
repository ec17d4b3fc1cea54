"""The container's pieces, run for real outside a container (no engine starts here): the
install and start scripts on a fresh directory, hadolint on the Dockerfile, compose.yaml
against the Compose specification's schema, and the lock in step with pyproject.toml."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tracked_copy(dest: Path) -> Path:
    """The working tree's files as a fresh clone would have them (no venv, data or .env)."""
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hadolint_passes_on_the_dockerfile_and_fails_a_bad_one(tmp_path):
    good = subprocess.run([BIN / "hadolint", "Dockerfile"], cwd=ROOT, capture_output=True)
    assert good.returncode == 0, good.stdout.decode()
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install requests\n")
    result = subprocess.run([BIN / "hadolint", bad], capture_output=True, text=True)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the "latest" tag


def test_compose_file_matches_the_compose_schema_and_a_broken_one_does_not(tmp_path):
    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path],
            capture_output=True,
            text=True,
        )

    assert check(ROOT / "compose.yaml").returncode == 0
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        (ROOT / "compose.yaml").read_text().replace("  worker:\n", "  worker:\n    replica: 2\n")
    )
    result = check(broken)
    assert result.returncode != 0
    assert "replica" in result.stdout


def test_the_lock_check_fails_once_a_dependency_is_added_without_relocking(tmp_path):
    env = {**os.environ, "UV": str(BIN / "uv")}
    ok = subprocess.run([ROOT / "scripts" / "lock", "--check"], env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr.decode()

    copy = tmp_path / "repo"
    for name in ("pyproject.toml", "uv.lock", "scripts/lock", "requirements", "README.md"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name)
        else:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('    "tqdm>=4.66",', '    "tqdm>=4.66",\n    "polib>=1.2",')
    )
    stale = subprocess.run(
        [copy / "scripts" / "lock", "--check"], env=env, capture_output=True, text=True
    )
    assert stale.returncode != 0


def test_container_scripts_install_and_start_the_app_from_a_fresh_directory(tmp_path):
    app = _tracked_copy(tmp_path / "app")
    venv = tmp_path / "venv"
    install = subprocess.run(
        [app / "scripts" / "container-install", venv],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # The runtime set only: the test tools stay out of the image.
    for tool in ("pytest", "playwright", "moto", "schemathesis"):
        found = subprocess.run([venv / "bin" / "python", "-c", f"import {tool}"])
        assert found.returncode != 0, f"{tool} is installed in the runtime set"

    port = _free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GALLERY_ENV_FILE": "",
        "GALLERY_DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "SECRET_KEY": "container-test-" + "k" * 50,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_WORKERS": "1",
        "GALLERY_ADMIN_USERNAME": "boss",
        "GALLERY_ADMIN_EMAIL": "boss@example.org",
        "GALLERY_ADMIN_PASSWORD": "correct horse battery staple",
    }
    start = app / "scripts" / "container-start"
    web = subprocess.Popen(
        [start, "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    try:
        deadline = time.monotonic() + 120
        while True:
            health = subprocess.run(
                [venv / "bin" / "python", app / "scripts" / "container-healthcheck"],
                env=env,
                capture_output=True,
            )
            if health.returncode == 0:
                break
            assert web.poll() is None, web.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no /healthz 200 within 2 minutes"
            time.sleep(1)
        assert (tmp_path / "static").is_dir()  # collectstatic ran

        admin = subprocess.run(
            [
                start,
                "python",
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model as m; "
                "print([(u.username, u.is_superuser) for u in m().objects.all()])",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # The last line: Django 5.2's shell first says what it imported.
        assert admin.stdout.strip().splitlines()[-1] == "[('boss', True)]", admin.stderr

        worker = subprocess.Popen(
            [start, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        time.sleep(5)
        assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=40) is not None
    finally:
        if worker and worker.poll() is None:
            worker.kill()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=60)
