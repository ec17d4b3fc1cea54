"""The JSON API (/api/v1/): listing with a cursor, search and filters, reading one image,
creating one asynchronously, deleting, and who may do which."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import tokens
from core.models import SiteSettings
from gallery.models import Favourite, Generation
from gallery.services import endpoint, worker
from tests.conftest import content_of, is_signed_copy, stored_files
from tests.factories import make_done, make_failed

pytestmark = [pytest.mark.web, pytest.mark.django_db]

LIST = "/api/v1/generations"
Status = Generation.Status


@pytest.fixture(autouse=True)
def _every_limit_off(no_limits):
    """Every limit off; the tests about limits turn one on."""


def token_for(user: User) -> str:
    return tokens.issue(user, "tests")[1]


def call(method: str, path: str, token: str | None = None, client: Client | None = None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = client or Client()
    return getattr(client, method)(path, headers=headers, **kw)


def walk(path: str, token: str | None = None) -> list[list[str]]:
    """Every page's ids, following next_url from `path` to the end."""
    pages = []
    while path:
        response = call("get", path, token)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        path = body["next_url"]
        if path:
            assert path.startswith("http://testserver/api/v1/generations?")
            assert f"cursor={body['next_cursor']}" in path
    return pages


# --- Listing --------------------------------------------------------------------------------


def test_the_cursor_pages_through_every_item_exactly_once(owner, other_user):
    public = [make_done(f"lighthouse {n}", owner=owner) for n in range(7)]
    make_done("bob's secret", owner=other_user, visibility="private")
    Generation.objects.create(prompt="still queued", owner=owner)

    with CaptureQueriesContext(connection) as queries:
        pages = walk(f"{LIST}?limit=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    newest_first = [item.public_id for item in reversed(public)]
    assert [i for page in pages for i in page] == newest_first
    # Keyset pages: no page counts the table or skips rows with OFFSET.
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "COUNT(" not in sql and "OFFSET" not in sql

    oldest = walk(f"{LIST}?limit=4&sort=oldest")
    assert [i for page in oldest for i in page] == newest_first[::-1]


def test_an_item_added_while_paging_does_not_shift_the_pages(owner):
    items = [make_done(f"tide {n}", owner=owner) for n in range(4)]
    first = call("get", f"{LIST}?limit=2").json()
    make_done("a newcomer", owner=owner)
    second = call("get", first["next_url"]).json()
    assert [i["id"] for i in second["items"]] == [items[1].public_id, items[0].public_id]
    assert second["next_cursor"] is None and second["next_url"] is None


def test_search_finds_words_and_phrases_and_leaves_out(owner):
    make_done("a lighthouse in a storm", owner=owner)
    calm = make_done("a lighthouse on a calm sea", owner=owner)
    make_done("a forest at dawn", owner=owner)

    def prompts(q: str) -> list[str]:
        response = call("get", LIST, data={"q": q})
        assert response.status_code == 200
        return [item["prompt"] for item in response.json()["items"]]

    assert prompts("lighthouse") == ["a lighthouse on a calm sea", "a lighthouse in a storm"]
    assert prompts('"calm sea"') == [calm.prompt]
    assert prompts("lighthouse -storm") == [calm.prompt]
    assert prompts("lighthouses") == prompts("lighthouse")  # stemmed, as on the web
    assert prompts("volcano") == []


def test_search_pages_with_the_cursor_too(owner):
    matching = [make_done(f"harbour {n}", owner=owner) for n in range(5)]
    make_done("a forest", owner=owner)
    pages = walk(f"{LIST}?q=harbour&limit=2")
    assert [i for page in pages for i in page] == [m.public_id for m in reversed(matching)]


def test_filters_mine_starred_and_status(owner, other_user):
    ada = token_for(owner)
    mine = make_done("ada's own", owner=owner)
    theirs = make_done("bob's public", owner=other_user)
    Favourite.objects.create(user=owner, generation=theirs)
    failed = make_failed("ada's failure", "Timed out.", owner=owner)
    make_failed("bob's failure", "Timed out.", owner=other_user)

    def ids(query: str) -> list[str]:
        response = call("get", f"{LIST}?{query}", ada)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids("") == [theirs.public_id, mine.public_id]
    assert ids("mine=true") == [mine.public_id]
    assert ids("starred=true") == [theirs.public_id]
    assert ids("status=failed") == [failed.public_id]  # one's own failures only
    item = call("get", f"{LIST}?status=failed", ada).json()["items"][0]
    assert item["failure_reason"] == "Timed out."
    assert item["original_url"] is None

    # These filters are about "me": without a token there is no "me".
    for query in ("mine=true", "starred=true", "status=failed"):
        response = call("get", f"{LIST}?{query}")
        assert response.status_code == 401
        assert "token" in response.json()["detail"]


def test_a_malformed_cursor_or_filter_is_a_400(owner):
    assert call("get", f"{LIST}?cursor=abc").status_code == 400
    response = call("get", f"{LIST}?status=lost")
    assert response.status_code == 400
    assert response.json()["detail"] == "The request is not valid."
    assert call("get", f"{LIST}?limit=1000").status_code == 400


# --- Reading one ----------------------------------------------------------------------------


def test_get_gives_status_metadata_and_authorised_media_urls(owner, finished):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, negative_prompt="fog")
    response = call("get", f"{LIST}/{finished.public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == finished.public_id
    assert body["url"] == f"http://testserver/api/v1/generations/{finished.public_id}"
    assert body["page_url"] == f"http://testserver/g/{finished.public_id}/"
    assert body["status"] == "succeeded"
    assert (body["prompt"], body["negative_prompt"]) == ("a quiet harbour", "fog")
    assert body["owner"] == "ada"
    assert body["visibility"] == "public"
    assert (body["width"], body["height"]) == (finished.width, finished.height)
    assert body["format"] == finished.format
    assert body["finished_at"] and body["created_at"]
    # The moderation state is the owner's and staff's business only.
    assert body["moderation"] is None and body["moderation_reason"] is None

    # The media URLs are the authorising media view's, and they serve the files.
    for key in ("original_url", "thumbnail_url", "thumbnail_2x_url", "preview_url"):
        assert body[key].startswith(f"http://testserver/media/{finished.public_id}/")
    original = Client().get(body["original_url"])
    assert original.status_code == 200
    assert is_signed_copy(content_of(original), finished.original.open("rb").read())

    own = call("get", f"{LIST}/{finished.public_id}", token_for(owner)).json()
    assert own["moderation"] == "visible" and own["moderation_reason"] == ""


def test_a_token_fetches_the_files_of_its_owners_private_image(owner, other_user, finished):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    body = call("get", f"{LIST}/{finished.public_id}", token_for(owner)).json()
    stored = finished.original.open("rb").read()

    original = call("get", body["original_url"], token_for(owner))
    assert original.status_code == 200
    assert is_signed_copy(content_of(original), stored)
    # Nobody else gets the bytes: not anonymous, not another user's token, not a bad token.
    assert call("get", body["original_url"]).status_code == 404
    assert call("get", body["original_url"], token_for(other_user)).status_code == 404
    refused = call("get", body["thumbnail_url"], "sdxlg_not-a-real-token")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")


def test_another_users_private_item_is_invisible_to_others(owner, other_user, moderator):
    secret = make_done("bob's secret", owner=other_user, visibility="private")
    ada = token_for(owner)

    listed = call("get", LIST, ada).json()["items"]
    assert secret.public_id not in [i["id"] for i in listed]
    for token in (ada, None):
        response = call("get", f"{LIST}/{secret.public_id}", token)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
    # The same answer as an id that does not exist: nothing leaks.
    assert call("get", f"{LIST}/nosuchid", ada).json() == {"detail": "Not Found"}
    assert call("delete", f"{LIST}/{secret.public_id}", ada).status_code == 404
    assert Generation.objects.filter(pk=secret.pk).exists()

    # Its owner and staff see it, moderation state included.
    for user in (other_user, moderator):
        body = call("get", f"{LIST}/{secret.public_id}", token_for(user)).json()
        assert body["visibility"] == "private" and body["moderation"] == "visible"
    assert secret.public_id in [
        i["id"] for i in call("get", LIST, token_for(moderator)).json()["items"]
    ]


def test_anonymous_callers_follow_the_sites_anonymous_browsing(owner):
    item = make_done("a public view", owner=owner)
    assert [i["id"] for i in call("get", LIST).json()["items"]] == [item.public_id]

    site = SiteSettings.load()
    site.anonymous_browsing = False
    site.save()
    for path in (LIST, f"{LIST}/{item.public_id}"):
        response = call("get", path)
        assert response.status_code == 401
        assert "signed-in users only" in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert call("get", path, token_for(owner)).status_code == 200


# --- Tokens and the session cookie ------------------------------------------------------------


def test_a_bad_token_is_401_and_a_revoked_one_403(owner):
    response = call("get", LIST, "sdxlg_not-a-real-token")
    assert response.status_code == 401
    assert response.json() == {"detail": "The token is not valid.", "code": "token_invalid"}

    row, raw = tokens.issue(owner, "old script")
    assert call("get", LIST, raw).status_code == 200
    tokens.revoke(row)
    for method, path in (("get", LIST), ("post", LIST), ("delete", f"{LIST}/x")):
        response = call(method, path, raw)
        assert response.status_code == 403
        assert response.json()["detail"] == "The token has been revoked."
    # Not a Bearer token at all: refused, not quietly served as anonymous.
    assert Client().get(LIST, headers={"Authorization": "Basic YWRhOmFkYQ=="}).status_code == 401


def test_the_session_cookie_is_never_an_api_identity(client, owner):
    client.force_login(owner)
    private = make_done("ada's private", owner=owner, visibility="private")

    # Unsafe methods: a signed-in browser (or a page on another site riding its cookie)
    # cannot create or delete through the CSRF-exempt API.
    response = client.post(LIST, {"prompt": "a forged request"}, content_type="application/json")
    assert response.status_code == 401
    assert client.delete(f"{LIST}/{private.public_id}").status_code == 401
    assert Generation.objects.filter(pk=private.pk).exists()
    assert not Generation.objects.filter(prompt="a forged request").exists()
    # Reads with only the cookie are anonymous reads.
    assert call("get", f"{LIST}/{private.public_id}", client=client).status_code == 404


def test_no_token_ever_appears_in_a_response(owner):
    raw = token_for(owner)
    for response in (
        call("get", LIST, raw),
        call("post", LIST, raw, data={"prompt": ""}, content_type="application/json"),
        call("get", f"{LIST}/nope", raw),
    ):
        assert raw not in response.content.decode()
        assert raw not in str(response.headers)


# --- Creating -------------------------------------------------------------------------------


def test_create_answers_202_with_location_then_the_pipeline_finishes_it(
    owner, client_for, media_root, django_capture_on_commit_callbacks
):
    ada = token_for(owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = call(
            "post",
            LIST,
            ada,
            data={"prompt": "a red fox", "negative_prompt": "blur", "visibility": "private"},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    assert re.fullmatch(r"http://testserver/api/v1/generations/[\w-]+", body["url"])
    assert body["status"] == "queued"
    assert (body["prompt"], body["negative_prompt"]) == ("a red fox", "blur")
    assert (body["owner"], body["visibility"]) == ("ada", "private")
    assert body["original_url"] is None
    assert len(callbacks) == 1  # the task is enqueued once the row is committed

    # The worker's part: the pipeline against the stand-in endpoint.
    item = Generation.objects.get(public_id=body["id"])
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))

    done = call("get", response["Location"], ada).json()
    assert done["status"] == "succeeded"
    assert done["finished_at"] and done["width"] == 1024
    thumbnail = call("get", done["thumbnail_url"], client=Client())
    assert thumbnail.status_code == 404  # private: the anonymous visitor gets nothing
    browser = Client()
    browser.force_login(owner)
    assert browser.get(done["thumbnail_url"]).status_code == 200
    # Private: no one else sees it, in the list or by id.
    assert call("get", response["Location"]).status_code == 404


def test_create_refuses_bad_input_and_blocked_prompts_with_400(owner):
    from gallery.models import BlockedTerm

    ada = token_for(owner)

    def post(data):
        return call("post", LIST, ada, data=data, content_type="application/json")

    for data in ({"prompt": "   "}, {"prompt": "x" * 5000}, {"negative_prompt": "x"}):
        response = post(data)
        assert response.status_code == 400
        assert response.json()["detail"] == "The request is not valid."
        assert response.json()["errors"][0]["loc"] == ["body", "data", "prompt"]
    assert post({"prompt": "a fox", "visibility": "secret"}).status_code == 400

    # What no database column can store is refused up front, not a server error.
    assert post({"prompt": "a fox\u0000"}).status_code == 400
    assert post({"prompt": "a fox", "negative_prompt": "\x00"}).status_code == 400
    surrogate = '{"prompt": "a fox \\ud800"}'
    response = call("post", LIST, ada, data=surrogate, content_type="application/json")
    assert response.status_code == 400
    assert call("get", f"{LIST}/abc%00", ada).status_code == 404

    BlockedTerm.objects.create(term="gore", reason="violence")
    blocked = post({"prompt": "gore everywhere"})
    assert blocked.status_code == 400
    assert "can't be used on this site (violence)" in blocked.json()["detail"]
    assert not Generation.objects.exists()


def test_create_over_the_quota_is_429_with_retry_after(owner, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 1
    ada = token_for(owner)
    ok = call("post", LIST, ada, data={"prompt": "one"}, content_type="application/json")
    assert ok.status_code == 202
    refused = call("post", LIST, ada, data={"prompt": "two"}, content_type="application/json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota"
    assert "You have used all 1 images for today" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert Generation.objects.count() == 1


def test_too_many_in_flight_is_429_with_a_short_retry_after(owner, no_limits):
    no_limits.GALLERY_MAX_WAITING = 1
    ada = token_for(owner)
    assert (
        call("post", LIST, ada, data={"prompt": "a"}, content_type="application/json").status_code
        == 202
    )
    refused = call("post", LIST, ada, data={"prompt": "b"}, content_type="application/json")
    assert refused.status_code == 429
    assert (refused.json()["code"], refused["Retry-After"]) == ("in_flight", "15")


# --- Deleting -------------------------------------------------------------------------------


def test_delete_removes_the_row_and_its_files(
    owner, other_user, moderator, finished, media_root, django_capture_on_commit_callbacks
):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    assert stored_files(media_root)
    path = f"{LIST}/{finished.public_id}"

    assert call("delete", path).status_code == 401
    assert call("delete", path, token_for(other_user)).status_code == 404  # public, but not bob's
    with django_capture_on_commit_callbacks(execute=True):
        response = call("delete", path, token_for(owner))
    assert response.status_code == 204 and response.content == b""
    assert not Generation.objects.filter(pk=finished.pk).exists()
    assert stored_files(media_root) == []
    assert call("get", path, token_for(owner)).status_code == 404

    # Staff may delete anyone's.
    theirs = make_done("bob's", owner=other_user, visibility="private")
    assert call("delete", f"{LIST}/{theirs.public_id}", token_for(moderator)).status_code == 204


# --- The OpenAPI document and the docs page ------------------------------------------------------


def test_the_openapi_document_and_an_offline_docs_page_are_served():
    spec = call("get", "/api/v1/openapi.json").json()
    assert set(spec["paths"]) == {"/api/v1/generations", "/api/v1/generations/{public_id}"}
    assert spec["components"]["securitySchemes"] == {
        "BearerToken": {"type": "http", "scheme": "bearer"}
    }

    page = call("get", "/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    # Everything from this site: the CSP allows nothing else, and it must work offline.
    assert "Content-Security-Policy" in page.headers
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
        assert Client().get(asset).status_code == 200, asset
    assert '"validatorUrl": null' in html
