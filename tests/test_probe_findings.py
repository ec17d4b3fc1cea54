"""Bugs a probe of the running app found (the hardening issue): each test failed before
its fix."""

import json

import pytest
from django.test import Client

from accounts import tokens
from gallery.models import Generation

pytestmark = [pytest.mark.web, pytest.mark.django_db]


@pytest.fixture
def token(owner, no_limits) -> str:
    return tokens.issue(owner, "script")[1]


@pytest.mark.parametrize("path", ["/api/text2image", "/v1/images/generations"])
def test_deeply_nested_json_is_a_400_not_a_500(path, token):
    body = "[" * 100_000 + "]" * 100_000
    response = Client().post(
        path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400
    assert "not valid JSON" in json.dumps(response.json())


def test_head_is_answered_like_get(owner, finished):
    finished.owner = owner
    finished.save(update_fields=["owner"])
    client = Client()
    for path in ("/healthz", "/", finished.get_absolute_url(), finished.thumbnail_url):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head["Content-Type"] == get["Content-Type"], path
        body = b"".join(head.streaming_content) if head.streaming else head.content
        assert body == b"", path


@pytest.mark.parametrize(
    "prompt",
    ["\u200b\u200b", "\u2060 \ufeff", "\u3164\u3164", " \u200d\u200c\u0301 "],
    ids=["zero-width-spaces", "joiners-and-bom", "hangul-fillers", "marks-and-joiners"],
)
def test_a_prompt_of_invisible_characters_is_refused_as_empty(owner, no_limits, prompt):
    client = Client()
    client.force_login(owner)
    response = client.post("/generate", {"prompt": prompt, "negative_prompt": ""})
    assert response.status_code == 400
    assert "Describe the image you want." in response.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic YWRhOmFkYS1wYXNzd29yZA=="])
def test_media_with_empty_or_other_credentials_is_401_not_the_cookie(owner, finished, header):
    finished.owner = owner
    finished.visibility = "private"
    finished.save(update_fields=["owner", "visibility"])
    client = Client()
    client.force_login(owner)
    assert client.get(finished.thumbnail_url).status_code == 200  # the cookie alone works

    response = client.get(finished.thumbnail_url, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def _public(item, owner):
    item.owner = owner
    item.save(update_fields=["owner"])
    return item


def test_media_answers_a_range_so_an_interrupted_download_resumes(owner, finished):
    item = _public(finished, owner)
    whole = b"".join(Client().get(item.original_url).streaming_content)

    head = Client().get(item.original_url, HTTP_RANGE="bytes=0-99")
    rest = Client().get(item.original_url, HTTP_RANGE="bytes=100-")
    tail = Client().get(item.original_url, HTTP_RANGE="bytes=-10")

    assert (head.status_code, rest.status_code, tail.status_code) == (206, 206, 206)
    assert head["Content-Range"] == f"bytes 0-99/{len(whole)}"
    assert head.content + rest.content == whole
    assert tail.content == whole[-10:]
    past = Client().get(item.original_url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert (past.status_code, past["Content-Range"]) == (416, f"bytes */{len(whole)}")
    # Several ranges or nonsense: the whole file, as a server may answer.
    assert Client().get(item.original_url, HTTP_RANGE="bytes=0-1,5-9").status_code == 200
    assert Client().get(item.original_url, HTTP_RANGE="lines=1-2").status_code == 200


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def test_a_download_with_its_prompt_embedded_resumes_too(owner, finished):
    item = _public(finished, owner)
    url = item.original_url + "?download=1"
    whole = _body(Client().get(url))
    first = Client().get(url, HTTP_RANGE="bytes=0-1023")
    rest = Client().get(url, HTTP_RANGE="bytes=1024-")
    assert (first.status_code, rest.status_code) == (206, 206)
    assert _body(first) + _body(rest) == whole
    assert "attachment" in rest["Content-Disposition"]


def test_media_sends_the_verified_format_and_a_csp_that_runs_nothing(owner, finished):
    item = _public(finished, owner)
    item.refresh_from_db()
    expected = {
        item.original_url: {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}[
            item.format
        ],
        item.thumbnail_url: "image/webp",
        item.preview_url: "image/webp",
        item.original_url + "?download=1": "image/jpeg" if item.format == "JPEG" else None,
    }
    for url, content_type in expected.items():
        response = Client().get(url)
        assert response.status_code == 200, url
        if content_type:
            assert response["Content-Type"] == content_type, url
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox", url
