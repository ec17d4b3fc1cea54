"""The web server as `make run` and `make serve-prod` start it (uvicorn serving config.asgi):
stalled clients cost it nothing, a request body has a deadline, and only a request with a
valid session or token may send a large one."""

import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests import procs
from tests.test_make_run import _free_port

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("web-server")
    with procs.scratch_database(tmp_path) as database_url:
        env = procs.app_env(
            database_url, tmp_path / "media", "http://127.0.0.1:9/unused",
            GALLERY_BODY_DEADLINE="1", GALLERY_ANONYMOUS_BODY_MAX="4096",
            GALLERY_SIGNIN_RATE="0", STATIC_ROOT=str(tmp_path / "static"),
        )  # fmt: skip
        procs.manage(env, "migrate", "--verbosity", "0")
        procs.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        token = procs.manage(
            env, "shell", "-c",
            "from django.contrib.auth.models import User\nfrom accounts import tokens\n"
            "u = User.objects.create_user('ada', password='ada-password-123')\n"
            "print(tokens.issue(u, 'test')[1])",
        ).split()[-1]  # fmt: skip
        port = _free_port()
        web = subprocess.Popen(
            [sys.executable, "-m", "config.server"], cwd=procs.ROOT,
            env={**env, "PORT": str(port), "WEB_WORKERS": "1", "WEB_ACCESS_LOG": "false"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        procs.wait_for(lambda: _up(url), 30, "the web server did not come up")
        try:
            yield url, port, token
        finally:
            procs.stop(web)


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def _stalled(port: int, path: str = "/accounts/login/") -> socket.socket:
    """A connection that announces a body and sends only the start of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=".encode()
    )
    return sock


def _read_until_closed(sock: socket.socket) -> str:
    """The whole answer: the server closes the connection after it (headers and body may
    come in separate reads)."""
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks).decode()


def test_stalled_clients_do_not_hold_up_other_requests(server):
    url, port, _ = server
    # More stalled connections than the old server had threads (2 processes x 4), in one
    # process here.
    held = [_stalled(port) for _ in range(20)]
    try:
        started = time.monotonic()
        for _ in range(5):
            assert requests.get(url + "/healthz", timeout=5).ok
            assert requests.get(url + "/", timeout=5).ok
        assert time.monotonic() - started < 5
    finally:
        for sock in held:
            sock.close()


def test_a_body_that_does_not_arrive_in_time_is_answered_408(server):
    _, port, _ = server
    sock = _stalled(port)
    started = time.monotonic()
    answer = _read_until_closed(sock)
    assert answer.startswith("HTTP/1.1 408")
    assert "The request body did not arrive in time." in answer
    assert time.monotonic() - started < 5  # the deadline is 1 s here


def test_a_large_body_needs_a_valid_token_or_session(server):
    url, _, token = server
    body = {"prompt": "x" * 10_000}  # past the anonymous 4 KiB, under Django's 2.5 MB

    anonymous = requests.post(url + "/api/text2image", json=body, timeout=10)
    assert anonymous.status_code == 413  # refused before a byte of it was read
    assert anonymous.text == "The request body is too large.\n"

    forged = requests.post(
        url + "/api/text2image", json=body, headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert forged.status_code == 413

    # With a valid token the body reaches the API, which says what is wrong with it.
    signed = requests.post(
        url + "/api/text2image", json=body, headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )  # fmt: skip
    assert signed.status_code == 400
    assert "1000 characters" in signed.json()["error"]

    # A small anonymous body is read as usual: the API answers it (401: no token).
    small = requests.post(url + "/api/text2image", json={"prompt": "a fox"}, timeout=10)
    assert small.status_code == 401


def test_anyone_may_upload_an_image_to_the_verify_page(server):
    url, _, _ = server
    http = requests.Session()
    http.get(url + "/verify", timeout=10)
    picture = {"image": ("picture.jpg", b"\xff\xd8" + b"x" * 200_000, "image/jpeg")}
    answer = http.post(
        url + "/verify", files=picture, data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
        headers={"Referer": url + "/verify"}, timeout=10,
    )  # fmt: skip
    assert answer.status_code != 413  # past the anonymous 4 KiB: the page itself answers
    assert "<html" in answer.text


def test_a_signed_in_session_may_send_a_large_form(server):
    url, _, _ = server
    http = requests.Session()
    login = http.get(url + "/accounts/login/", timeout=10)
    assert login.ok
    csrf = http.cookies["csrftoken"]
    signed_in = http.post(
        url + "/accounts/login/",
        data={"username": "ada", "password": "ada-password-123", "csrfmiddlewaretoken": csrf},
        timeout=10,
    )
    assert signed_in.ok and "sessionid" in http.cookies
    form = {"csrfmiddlewaretoken": http.cookies["csrftoken"], "prompt": "x" * 10_000}
    answer = http.post(url + "/generate", data=form, timeout=10)
    assert answer.status_code != 413  # the form view answers it (too long a prompt)
    assert "1000 characters" in answer.text


def test_a_content_length_that_is_not_a_number_is_a_400(server):
    _, port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/text2image HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.split()[1] in ("400", "411")  # the parser may refuse it before we see it


def test_static_files_are_served_with_whitenoise_headers_and_compression(server):
    url, _, _ = server
    page = requests.get(url + "/accounts/login/", timeout=10).text
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+\.css)"', page)[1]

    plain = requests.get(url + stylesheet, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/css")
    assert "immutable" in plain.headers["Cache-Control"]  # a hashed name: cache it for ever
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "body" in plain.text

    packed = requests.get(url + stylesheet, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.text == plain.text  # requests unpacks it

    again = requests.get(
        url + stylesheet, headers={"If-None-Match": plain.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and not again.content

    assert requests.get(url + "/static/no-such-file.css", timeout=10).status_code == 404


def test_a_process_keeps_serving_past_thousands_of_requests(server):
    # A page view is the HTML and 48 thumbnails. The server here is one process with the
    # default settings: recycling it after 2,000 requests stopped the server for good.
    url, _, _ = server
    page = requests.get(url + "/accounts/login/", timeout=10).text
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+\.css)"', page)[1]
    with requests.Session() as visitor:
        answers = [visitor.get(url + stylesheet, timeout=10).status_code for _ in range(2500)]
    assert answers == [200] * 2500
    assert _up(url)


def test_recycling_needs_two_processes_or_is_off():
    from config.server import options

    assert options({"WEB_WORKERS": "2", "WEB_MAX_REQUESTS": "5000"})["limit_max_requests"] == 5000
    # One process that stops is not replaced by uvicorn: the server would be gone.
    assert options({"WEB_WORKERS": "1", "WEB_MAX_REQUESTS": "5000"})["limit_max_requests"] is None
    assert options({"WEB_WORKERS": "4"})["limit_max_requests"] is None
    assert options({"WEB_WORKERS": "4"})["access_log"] is False
