"""Contract tests of the drop-in compatible APIs: `POST /api/text2image` (the hosted SDXL
protocol) and `POST /v1/images/generations` (OpenAI's images API). Every status code each
answers, against the stand-in endpoint over real HTTP, with its fault injection."""

import base64
import io
import json
import socket
import time
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.http import HttpRequest
from django.test import Client
from PIL import Image

from accounts import limits, tokens
from gallery.api import errors
from gallery.models import BlockedTerm, Generation, Preferences
from gallery.services import signed_urls
from tests.conftest import content_of, is_signed_copy
from tests.procs import wait_for

pytestmark = [pytest.mark.web, pytest.mark.django_db]

TEXT2IMAGE = "/api/text2image"
OPENAI = "/v1/images/generations"
BOTH = [TEXT2IMAGE, OPENAI]
NOW = datetime(2026, 3, 1, 21, 32, 30, tzinfo=UTC)  # 2 h 27 min 30 s before midnight UTC


@pytest.fixture(autouse=True)
def app(standin, settings, media_root, monkeypatch):
    """The gallery against the stand-in, one attempt per generation, short timeouts, and a
    fixed clock for the limits so that no window ends in the middle of a test."""
    settings.SDXL_ENDPOINT_URL = standin.url
    settings.GALLERY_MAX_ATTEMPTS = 1
    settings.GALLERY_READ_TIMEOUT = 1.0
    settings.GALLERY_CONNECT_TIMEOUT = 2.0
    monkeypatch.setattr(limits, "clock", lambda: NOW)
    return standin


@pytest.fixture
def token(owner) -> str:
    return tokens.issue(owner, "script")[1]


def post(path: str, body, token: str | None = "", *, client: Client | None = None, **kw):
    """POST as the hosted API's documented clients do: JSON, Bearer token."""
    headers = {"Accept": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return (client or Client()).post(
        path, data=data, content_type="application/json", headers=headers, **kw
    )


def error_of(response) -> dict:
    """The error, whichever API: text2image's {"error", "code"} or OpenAI's
    {"error": {"message", "type", "param", "code"}}."""
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if isinstance(body["error"], dict):
        assert set(body["error"]) == {"message", "type", "param", "code"}
        return body["error"]
    assert set(body) == {"error", "code"}
    return {"message": body["error"], "code": body["code"]}


def prompt_body(path: str, prompt: str = "a lighthouse at night") -> dict:
    return {"prompt": prompt} if path == TEXT2IMAGE else {"prompt": prompt, "n": 1}


# --- 200 ------------------------------------------------------------------------------------


def test_text2image_answers_the_image_bytes_and_keeps_the_image(app, token, owner):
    response = post(
        TEXT2IMAGE,
        {"prompt": "a red fox", "negative_prompt": "blurry", "seed": 7, "steps": 30},
        token,
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    data = response.content
    item = Generation.objects.get()
    assert (item.owner, item.prompt, item.negative_prompt) == (owner, "a red fox", "blurry")
    with default_storage.open(item.original.name, "rb") as stored:
        assert is_signed_copy(data, stored.read())  # what leaves is the signed copy
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    page = f"http://testserver/g/{item.public_id}/"
    assert response["X-Gallery-Id"] == item.public_id
    assert response["X-Gallery-Url"] == page
    assert response["Link"] == f'<{page}>; rel="alternate"'
    # Unknown fields are ignored, as by the hosted API: only the two prompts go upstream.
    assert app.received[-1]["body"] == {"prompt": "a red fox", "negative_prompt": "blurry"}


def test_openai_b64_json_answers_n_images_each_a_generation(token, owner):
    before = int(time.time())
    response = post(
        OPENAI,
        {
            "model": "dall-e-3",
            "prompt": "a red fox",
            "negative_prompt": "blurry",
            "n": 2,
            "size": "1024x1024",
            "response_format": "b64_json",
            "quality": "hd",
            "style": "vivid",
            "user": "someone",
        },
        token,
    )

    assert response.status_code == 200
    body = response.json()
    assert before <= body["created"] <= int(time.time())
    items = list(Generation.objects.order_by("id"))
    assert [(g.owner, g.prompt, g.negative_prompt) for g in items] == [
        (owner, "a red fox", "blurry")
    ] * 2
    for entry, item in zip(body["data"], items, strict=True):
        data = base64.b64decode(entry["b64_json"])
        with default_storage.open(item.original.name, "rb") as stored:
            assert is_signed_copy(data, stored.read())
        assert entry["gallery_url"] == f"http://testserver/g/{item.public_id}/"
        assert "url" not in entry


def test_openai_url_is_signed_and_opens_without_auth_for_an_hour(token, owner, visitor):
    Preferences.objects.create(user=owner, default_visibility="private")
    response = post(OPENAI, {"prompt": "a private fox"}, token)  # url is the default format

    assert response.status_code == 200
    [entry] = response.json()["data"]
    item = Generation.objects.get()
    assert item.visibility == "private"
    url = entry["url"]
    assert url.startswith(f"http://testserver/media/{item.public_id}/") and "?sig=" in url
    fetched = visitor.get(url)
    assert fetched.status_code == 200
    with default_storage.open(item.original.name, "rb") as stored:
        assert is_signed_copy(content_of(fetched), stored.read())

    path, signature = url.removeprefix("http://testserver").split("?sig=")
    assert visitor.get(path).status_code == 404  # private: the signature is what opens it
    tampered = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert visitor.get(f"{path}?sig={tampered}").status_code == 404
    # The signature names this one file: it does not open the thumbnail or another image.
    thumb = item.thumbnail.name.rsplit("/", 1)[-1]
    assert visitor.get(f"/media/{item.public_id}/{thumb}?sig={signature}").status_code == 404
    # An hour and a second later it has expired.
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 3601):
        assert visitor.get(url).status_code == 404
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 3590):
        assert visitor.get(url).status_code == 200


def test_a_signature_made_an_hour_ago_no_longer_opens(token, owner):
    Preferences.objects.create(user=owner, default_visibility="private")
    assert post(TEXT2IMAGE, {"prompt": "a fox"}, token).status_code == 200
    item = Generation.objects.get()
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 3601):
        old = signed_urls.original_path(item)
    assert Client().get(old).status_code == 404
    assert Client().get(signed_urls.original_path(item)).status_code == 200


# --- 400 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ('["a list"]', "invalid_json", None),
        (b'{"prompt": "a fox \xff\xfe"}', "invalid_json", None),  # not UTF-8
        ({}, "invalid_request", "prompt"),
        ({"prompt": ""}, "invalid_request", "prompt"),
        ({"prompt": "   "}, "invalid_request", "prompt"),
        ({"prompt": 42}, "invalid_request", "prompt"),
        ({"prompt": "a fox", "negative_prompt": ["x"]}, "invalid_request", "negative_prompt"),
        ({"prompt": "x" * 1001}, "invalid_request", "prompt"),
        # Text no database can store (PostgreSQL refuses a NUL): a 400, never a 500.
        ('{"prompt": "a fox\\u0000"}', "invalid_request", "prompt"),
        ('{"prompt": "a fox", "negative_prompt": "\\ud800"}', "invalid_request", "negative_prompt"),
    ],
)
def test_bad_requests_are_400_and_nothing_is_made(app, token, path, body, code, param):
    response = post(path, body, token)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code
    assert error["message"]
    if path == OPENAI:
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"
    assert not Generation.objects.exists()
    assert not app.received


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 0),
        ("n", 5),
        ("n", "2"),
        ("n", True),
        ("n", 1.5),
        ("size", "512x512"),
        ("size", "1792x1024"),
        ("response_format", "png"),
    ],
)
def test_openai_fields_out_of_range_are_400_naming_the_field(token, field, value):
    response = post(OPENAI, {"prompt": "a fox", field: value}, token)

    assert response.status_code == 400
    assert error_of(response)["param"] == field
    assert not Generation.objects.exists()


def test_openai_n_above_the_images_in_progress_limit_is_400_not_429(token, settings):
    settings.GALLERY_MAX_WAITING = 3  # 429 would say "later", but it can never succeed
    response = post(OPENAI, {"prompt": "a fox", "n": 4}, token)

    assert response.status_code == 400
    assert error_of(response)["param"] == "n"
    assert "At most 3 images" in error_of(response)["message"]


@pytest.mark.parametrize("path", BOTH)
def test_a_blocked_prompt_is_400_with_its_reason_and_never_sent(app, token, path):
    BlockedTerm.objects.create(term="gore", reason="violence")
    response = post(path, prompt_body(path, "a scene full of gore"), token)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "prompt_blocked"
    assert "violence" in error["message"] and "gore" not in error["message"]
    assert not Generation.objects.exists()
    assert not app.received


# --- 401, 403 -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "token_missing"),
        ("Bearer sdxlg_not-a-token", "token_invalid"),
        ("Basic YWRhOmFkYS1wYXNzd29yZC0xMjM=", "token_missing"),
    ],
)
def test_no_valid_token_is_401(app, path, authorization, code):
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().post(
        path, json.dumps(prompt_body(path)), content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == code
    assert not Generation.objects.exists()
    assert not app.received


@pytest.mark.parametrize("path", BOTH)
def test_a_signed_in_browser_session_is_not_a_token(path, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    response = post(path, prompt_body(path), None, client=browser)

    assert response.status_code == 401
    assert not Generation.objects.exists()


@pytest.mark.parametrize("path", BOTH)
def test_a_revoked_token_is_403(path, owner):
    row, raw = tokens.issue(owner, "old script")
    tokens.revoke(row)
    response = post(path, prompt_body(path), raw)

    assert response.status_code == 403
    assert error_of(response)["code"] == "token_revoked"
    assert raw not in response.content.decode()


@pytest.mark.parametrize("path", BOTH)
def test_a_disabled_account_is_403(path, owner, token):
    owner.is_active = False
    owner.save()
    response = post(path, prompt_body(path), token)

    assert response.status_code == 403
    assert error_of(response)["code"] == "account_disabled"


# --- 405, 413 -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_405(path, method, token):
    response = getattr(Client(), method)(path, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", BOTH)
def test_a_body_over_2_mb_is_413(app, path, token):
    body = json.dumps({"prompt": "a fox", "padding": "x" * (2 * 1024 * 1024)})
    response = post(path, body, token)

    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert not Generation.objects.exists()
    assert post(path, prompt_body(path), token).status_code == 200  # just under is fine


@pytest.mark.parametrize("path", BOTH)
def test_without_a_valid_token_the_body_is_never_read(path, token, monkeypatch):
    read = []
    monkeypatch.setattr(HttpRequest, "body", property(lambda self: read.append(1) or b"{}"))
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = Client().post(path, "{}", content_type="application/json", headers=headers)
        assert response.status_code == 401
    assert read == []
    response = Client().post(
        path, "{}", content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400 and read  # with the token, the body is read


# --- 429 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BOTH)
def test_the_daily_quota_is_429_with_seconds_until_midnight(path, token, settings):
    settings.GALLERY_DAILY_QUOTA = 1
    assert post(path, prompt_body(path), token).status_code == 200
    response = post(path, prompt_body(path), token)

    assert response.status_code == 429
    assert response["Retry-After"] == str(2 * 3600 + 27 * 60 + 30)
    error = error_of(response)
    assert error["code"] == "quota"
    assert "You have used all 1 images for today" in error["message"]
    assert Generation.objects.count() == 1


@pytest.mark.parametrize("path", BOTH)
def test_images_in_progress_over_the_limit_is_429(path, token, owner, settings):
    settings.GALLERY_MAX_WAITING = 1
    Generation.objects.create(prompt="still going", owner=owner)  # queued
    response = post(path, prompt_body(path), token)

    assert response.status_code == 429
    assert response["Retry-After"] == "15"
    assert error_of(response)["code"] == "in_flight"


@pytest.mark.parametrize("path", BOTH)
def test_the_per_address_rate_is_429(path, token, settings):
    settings.GALLERY_IP_RATES = {**settings.GALLERY_IP_RATES, "submit": "1/m"}
    assert post(path, prompt_body(path), token).status_code == 200
    response = post(path, prompt_body(path), token, REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # to the end of the minute
    assert error_of(response)["code"] == "rate_limited"
    if path == OPENAI:
        assert error_of(response)["type"] == "rate_limit_error"


def test_openai_n_images_are_counted_together_or_not_at_all(token, settings):
    settings.GALLERY_DAILY_QUOTA = 3
    settings.GALLERY_MAX_WAITING = 0
    refused = post(OPENAI, {"prompt": "a fox", "n": 4, "response_format": "b64_json"}, token)

    assert refused.status_code == 429
    assert error_of(refused)["code"] == "quota"
    assert not Generation.objects.exists()
    # Nothing was counted: all three left today can still be had at once.
    done = post(OPENAI, {"prompt": "a fox", "n": 3, "response_format": "b64_json"}, token)
    assert done.status_code == 200
    assert len(done.json()["data"]) == 3


# --- 5xx ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("500", 502, "endpoint_server_error"),
        ("503", 502, "endpoint_server_error"),
        ("reset", 502, "endpoint_unreachable"),
        ("html", 502, "endpoint_invalid_image"),
        ("truncated", 502, "endpoint_invalid_image"),
        ("401", 502, "endpoint_auth"),  # the gallery's own upstream token: not the caller's
        ("429", 502, "endpoint_rate_limited"),
        ("timeout", 504, "endpoint_timeout"),
    ],
)
def test_endpoint_failures_are_502_and_timeouts_504(app, path, token, fault, status, code):
    app.script(fault)
    response = post(path, prompt_body(path), token)

    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    item = Generation.objects.get()
    assert item.status == Generation.Status.FAILED
    assert error["message"] == item.failure_reason
    assert response["X-Gallery-Id"] == item.public_id  # the failed row, to retry from the site
    if path == OPENAI:
        assert error["type"] == "server_error"


@pytest.mark.parametrize("path", BOTH)
def test_a_storage_failure_is_500(path, token, settings, tmp_path):
    not_a_folder = tmp_path / "media-is-a-file"
    not_a_folder.write_text("")
    settings.MEDIA_ROOT = not_a_folder
    response = post(path, prompt_body(path), token)

    assert response.status_code == 500
    assert error_of(response)["code"] == "storage_error"


@pytest.mark.parametrize("path", BOTH)
def test_a_job_whose_workers_kept_dying_is_500(path, token, settings):
    settings.GALLERY_MAX_CLAIMS = 0  # the first claim already counts as one too many
    response = post(path, prompt_body(path), token)

    assert response.status_code == 500
    assert error_of(response)["code"] == "worker_lost"


def test_an_image_still_unfinished_when_waiting_ends_is_504(owner):
    # generate_now returns a row unfinished only when the worker holding it outlived its
    # lease; what the API then says:
    running = Generation.objects.create(prompt="slow", owner=owner, status="running")
    refusal = errors.from_unfinished(running)
    assert (refusal.status, refusal.code) == (504, "generation_timeout")


def test_openai_returns_the_images_that_succeeded_when_some_fail(app, token):
    app.script("500", "ok")
    response = post(OPENAI, {"prompt": "a fox", "n": 2, "response_format": "b64_json"}, token)

    assert response.status_code == 200
    [entry] = response.json()["data"]
    done = Generation.objects.get(status="succeeded")
    assert entry["gallery_url"].endswith(f"/g/{done.public_id}/")
    assert Generation.objects.filter(status="failed").count() == 1


# --- Signed links obey the access rules at once -----------------------------------------------


@pytest.mark.parametrize("change", ["owner makes it private", "staff hide it"])
def test_a_signed_link_stops_serving_as_soon_as_access_changes(token, owner, moderator, change):
    from gallery.services import moderation

    response = post(OPENAI, {"prompt": "a fox", "n": 1}, token)
    url = response.json()["data"][0]["url"]
    item = Generation.objects.get()
    assert Client().get(url).status_code == 200

    if change == "staff hide it":
        moderation.hide(item, actor=moderator, reason="reported")
    else:
        item.visibility = "private"
        item.save(update_fields=["visibility"])

    assert Client().get(url).status_code == 404


# --- A client that hangs up at once ---------------------------------------------------------


@pytest.fixture
def gallery(live_server, settings) -> str:
    """A live gallery server in this process, in front of the stand-in (see `app`), with time
    for a slow endpoint; its /api/text2image URL."""
    settings.GALLERY_READ_TIMEOUT = 5.0
    return live_server.url + TEXT2IMAGE


@pytest.mark.django_db(transaction=True)
def test_a_client_that_hangs_up_at_once_still_gets_its_image_kept(gallery, standin, token, owner):
    standin.latency = 1.0  # the generation is still going when the client has long gone
    url = urlsplit(gallery)
    body = json.dumps({"prompt": "a hippopotamus in a coffee shop", "negative_prompt": "Ugly"})
    request = (
        f"POST {url.path} HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        "accept: application/octet-stream\r\n"
        "content-type: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
        f"{body}"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(request)
    hung_up = time.time()

    item = wait_for(
        lambda: Generation.objects.filter(owner=owner, status="succeeded").first(),
        20,
        "the generation to be stored",
    )
    assert item.finished_at.timestamp() > hung_up + 0.5  # made after the client had gone
    with default_storage.open(item.original.name, "rb") as stored:
        assert Image.open(io.BytesIO(stored.read())).size == (1024, 1024)
