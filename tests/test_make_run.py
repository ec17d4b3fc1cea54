"""`make run`'s supervisor (`manage.py up`) as a new user meets it: start with no endpoint
configured, make an image through the web form, Ctrl-C, start again, the image is still there."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SDXL_ENDPOINT_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        GALLERY_ENV_FILE="",
        OVH_AI_ENDPOINTS_ACCESS_TOKEN="",
        SECRET_KEY="make-run-test-" + "k" * 40,
        GALLERY_DATA_DIR=str(tmp_path / "data"),
        LOG_LEVEL="WARNING",
    )
    return env


class App:
    def __init__(self, env: dict, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A session of its own, so a Ctrl-C can go to the whole group, as in a terminal.
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(self.port), "--workers", "1"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.http = requests.Session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.get(self.url + "/", timeout=2).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # still starting (or a busy
                time.sleep(0.2)  # machine): ask again until the deadline
        self.ctrl_c()
        raise AssertionError("the app did not come up")

    def children(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def ctrl_c(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(45)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def _create_admin(app: App) -> str:
    """Create the administrator through the first-run page; returns the home page it lands
    on, signed in."""
    form = app.http.get(app.url + "/setup/").text
    response = app.http.post(
        app.url + "/setup/",
        data={
            "csrfmiddlewaretoken": _csrf(form),
            "username": "admin",
            "email": "admin@example.com",
            "password1": "admin-password-123",
            "password2": "admin-password-123",
        },
    )
    assert response.ok and 'name="prompt"' in response.text
    return response.text


def test_run_generate_stop_and_run_again(env, tmp_path):
    log = tmp_path / "up.log"
    app = App(env, log)
    try:
        home = app.http.get(app.url + "/").text
        assert "Offline stand-in:</strong> drawn locally, not by SDXL" in home
        assert "Create the administrator account" in home  # the first-run banner
        assert f"create the administrator at {app.url}/setup/" in log.read_text()
        children = app.children()
        assert len(children) == 3  # stand-in, one worker, the web server

        home = _create_admin(app)
        assert "Create the administrator account" not in home
        token = _csrf(home)
        page = app.http.post(
            app.url + "/generate",
            data={
                "csrfmiddlewaretoken": token,
                "prompt": "a harbour at dusk",
                "negative_prompt": "",
            },
        )
        status_url = re.search(r'hx-get="([^"]+/status)"', page.text).group(1)
        deadline = time.monotonic() + 30
        while "Done" not in (fragment := app.http.get(app.url + status_url).text):
            assert time.monotonic() < deadline, "the image was not made in time"
            assert "Generation failed" not in fragment
            time.sleep(0.3)
        assert "Offline stand-in (not SDXL)" in fragment
    finally:
        assert app.ctrl_c() == 0
    assert not [pid for pid in children if _alive(pid)]  # every child stopped too

    again = App(env, log)
    try:
        home = again.http.get(again.url + "/").text
        assert 'alt="a harbour at dusk"' in home
        assert again.http.get(again.url + "/setup/").status_code == 404  # set up for good
        assert log.read_text().count("create the administrator at") == 1  # first start only
        thumb = re.search(r'<img src="([^"]+)"', home).group(1)
        response = again.http.get(again.url + thumb)
        assert (response.status_code, response.headers["Content-Type"]) == (200, "image/webp")
    finally:
        again.ctrl_c()


def _child(app: App, needle: str) -> int:
    for pid in app.children():
        if needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " "):
            return pid
    raise AssertionError(f"no child running {needle}")


def _submit(app: App, prompt: str) -> None:
    token = app.http.cookies["csrftoken"]
    form = {"csrfmiddlewaretoken": token, "prompt": prompt, "negative_prompt": ""}
    assert app.http.post(app.url + "/generate", data=form).ok


def _statuses(env: dict) -> dict[str, str]:
    database = Path(env["GALLERY_DATA_DIR"]) / "gallery.sqlite3"
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT prompt, status FROM gallery_generation").fetchall())


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_killed_worker_or_web_server_is_started_again(env, tmp_path):
    log = tmp_path / "up.log"
    app = App(env, log)
    try:
        _create_admin(app)
        worker = _child(app, "gallery_worker")
        os.kill(worker, signal.SIGKILL)
        web = _child(app, "config.server")
        os.kill(web, signal.SIGKILL)
        _wait(lambda: "Starting web server again." in log.read_text(), 20, "no restart")

        def serving() -> bool:
            try:
                return app.http.get(app.url + "/healthz", timeout=2).ok
            except requests.RequestException:
                return False

        _wait(serving, 30, "the site did not come back")
        text = log.read_text()
        assert "worker 1 exited unexpectedly (killed by SIGKILL); starting it again in 1 s." in text
        assert "web server exited unexpectedly (killed by SIGKILL)" in text
        assert _child(app, "gallery_worker") != worker
        # The restarted worker makes images.
        _submit(app, "after the crash")
        _wait(lambda: _statuses(env).get("after the crash") == "succeeded", 60, "not made")
    finally:
        assert app.ctrl_c() == 0


def test_ctrl_c_lets_the_running_generation_finish_against_the_stand_in(env, tmp_path):
    app = App(env, tmp_path / "up.log")
    try:
        _create_admin(app)
        for n in range(3):
            _submit(app, f"job {n}")
        _wait(lambda: "running" in _statuses(env).values(), 30, "nothing started")
        running = [p for p, status in _statuses(env).items() if status == "running"]
    finally:
        assert app.ctrl_c() == 0
    statuses = _statuses(env)
    assert "failed" not in statuses.values(), statuses
    # The job in flight at Ctrl-C was finished, not abandoned; the others wait for next time.
    assert all(statuses[prompt] == "succeeded" for prompt in running), statuses
    assert set(statuses.values()) <= {"succeeded", "queued"}
