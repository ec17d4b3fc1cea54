"""`make run`'s supervisor (`manage.py up`) as a new user meets it: start with no endpoint
configured, make an image through the web form, Ctrl-C, start again, the image is still there."""

import os
import re
import signal
import socket
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
        assert "Offline stand-in." in home
        assert "Create the administrator account" in home  # the first-run banner
        assert f"create the administrator at {app.url}/setup/" in log.read_text()
        children = app.children()
        assert len(children) == 3  # stand-in, one worker, gunicorn

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
