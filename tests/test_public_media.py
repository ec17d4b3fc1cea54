"""Public thumbnails and previews: their own URL, answered from memory before Django while
anyone may see them, and cacheable by shared caches; everything else keeps the full check,
and hiding an image or making it private ends its public URLs at once.

`served` asks the ASGI application uvicorn serves (config/asgi.py), so the fast path is what
is exercised; Django's test client exercises the same URLs without it."""

import os
import re

import pytest
from django.test import Client

from core.models import SiteSettings
from gallery.management.commands import gallery_worker
from gallery.models import Generation
from gallery.services import media_cache, moderation
from tests.asgi_app import served
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db(transaction=True)]

PUBLIC_CACHE = "public, max-age=31536000, immutable"


@pytest.fixture(autouse=True)
def fresh_cache():
    media_cache.forget_all()
    yield
    media_cache.forget_all()


def title(page: bytes) -> bytes:
    return re.search(rb"<title>(.*?)</title>", page)[1]


def session_cookie(user) -> str:
    client = signed_in(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def public(finished, owner) -> Generation:
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    finished.refresh_from_db()
    return finished


def test_a_public_thumbnail_is_served_for_shared_caches(public, media_root):
    for url in (public.thumbnail_url, public.thumbnail_2x_url, public.preview_url):
        assert "/public/" in url
        status, headers, body = served(url)
        assert status == 200, url
        assert headers["cache-control"] == PUBLIC_CACHE
        assert headers["content-type"] == "image/webp"
        assert headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert headers["x-content-type-options"] == "nosniff"
        name = url.rsplit("/", 1)[-1]
        assert body == next(media_root.rglob(name)).read_bytes()
        # The same URL through Django alone (no fast path) answers the same.
        response = Client().get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == PUBLIC_CACHE
        assert b"".join(response.streaming_content) == body


def test_a_public_thumbnail_comes_from_memory_and_answers_if_none_match(
    public, django_assert_num_queries
):
    status, headers, _ = served(public.thumbnail_url)
    assert status == 200
    with django_assert_num_queries(0):
        again, _, body = served(public.thumbnail_url)
        unchanged, kept, empty = served(public.thumbnail_url, if_none_match=headers["etag"])
        head, head_headers, head_body = served(public.thumbnail_url, method="HEAD")
    assert (again, unchanged, head) == (200, 304, 200)
    assert body and empty == b"" and head_body == b""
    assert kept["cache-control"] == PUBLIC_CACHE
    assert head_headers["content-length"] == str(len(body))


def test_a_range_or_a_query_takes_the_full_path(public):
    status, headers, body = served(public.thumbnail_url, range="bytes=0-9")
    assert (status, headers["content-range"].split("/")[0]) == (206, "bytes 0-9")
    assert len(body) == 10
    assert served(public.thumbnail_url + "?download=1")[0] == 200


def test_a_private_image_stays_private_and_its_owner_and_staff_get_private_headers(
    finished, owner, other_user, moderator
):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    finished.refresh_from_db()
    url = finished.thumbnail_url
    assert "/public/" not in url
    public_form = url.replace(f"/{finished.public_id}/", f"/{finished.public_id}/public/")
    missing = served(f"/media/{finished.public_id}/public/no-such-file-256.webp")
    assert missing[0] == 404
    for path in (url, finished.preview_url, public_form):
        for cookie in ("", session_cookie(other_user)):
            status, _, body = served(path, cookie=cookie)
            # The same answer as for a file that does not exist.
            assert (status, title(body)) == (404, title(missing[2])), (path, cookie)
    for person in (owner, moderator):
        status, headers, _ = served(url, cookie=session_cookie(person))
        assert status == 200
        assert headers["cache-control"].startswith("private")
        # The public form of a private image serves nobody, its owner included.
        assert served(public_form, cookie=session_cookie(person))[0] == 404


@pytest.fixture
def private(finished, owner) -> Generation:
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    finished.refresh_from_db()
    return finished


def test_a_private_thumbnail_comes_from_memory_for_its_owners_session(
    private, owner, other_user, media_root, django_assert_num_queries
):
    cookie = session_cookie(owner)
    status, headers, body = served(private.thumbnail_url, cookie=cookie)
    assert status == 200
    assert body == next(media_root.rglob(private.thumbnail_url.rsplit("/", 1)[-1])).read_bytes()
    with django_assert_num_queries(0):
        again, kept, same = served(private.thumbnail_url, cookie=cookie)
    assert (again, same) == (200, body)
    for answer in (headers, kept):
        assert answer["cache-control"] == "private, max-age=31536000, immutable"
        assert answer["vary"] == "Cookie"
        assert answer["content-security-policy"] == "default-src 'none'; sandbox"
    # Kept for that session only: another person's session, or none, still gets nothing.
    assert served(private.thumbnail_url, cookie=session_cookie(other_user))[0] == 404
    assert served(private.thumbnail_url)[0] == 404
    assert served(private.thumbnail_url, cookie="sessionid=made-up")[0] == 404


@pytest.mark.parametrize("change", ["signed out", "password changed", "staff no more", "deleted"])
def test_what_a_session_was_shown_ends_with_the_session_at_once(private, owner, moderator, change):
    person = owner if change in ("signed out", "password changed") else moderator
    client = signed_in(person)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert served(private.preview_url, cookie=cookie)[0] == 200  # now kept for that session
    if change == "signed out":
        client.post("/accounts/logout/")
    elif change == "password changed":
        person.set_password("a-new-password-456")
        person.save()
    elif change == "staff no more":
        person.is_staff = person.is_superuser = False
        person.save()
    else:
        private.delete()
    assert served(private.preview_url, cookie=cookie)[0] == 404


@pytest.mark.parametrize("change", ["made private", "hidden", "pending review", "deleted"])
def test_hiding_or_making_private_ends_the_existing_public_urls_at_once(
    public, owner, moderator, change
):
    old = [public.thumbnail_url, public.thumbnail_2x_url, public.preview_url]
    assert all(served(url)[0] == 200 for url in old)  # now in every cache level
    if change == "made private":  # as the admin's change form saves it
        public.visibility = Generation.Visibility.PRIVATE
        public.save()
    elif change == "hidden":
        moderation.hide(public, actor=moderator, reason="Not for the front page.")
    elif change == "pending review":
        Generation.objects.filter(pk=public.pk).update(moderation="pending")
        media_cache.access_changed()  # as moderation does for a change written by .update()
    else:
        public.delete()
    for url in old:
        assert served(url)[0] == 404, url
        assert Client().get(url).status_code == 404, url
    if change != "deleted":
        public.refresh_from_db()
        assert public.thumbnail_url not in old  # the URL changed with the access
        if change == "made private":
            assert served(public.thumbnail_url, cookie=session_cookie(owner))[0] == 200


def test_a_change_another_process_makes_is_seen_at_once(public):
    """Another web process's cache cannot be emptied from here: its entries are checked
    against the stamp file, which any process's change grows."""
    url = public.thumbnail_url
    assert served(url)[0] == 200
    Generation.objects.filter(pk=public.pk).update(visibility="private")  # no signal here
    with open(media_cache._stamp_path(), "ab") as stamp:  # what the other process does
        stamp.write(b".")
    assert served(url)[0] == 404


def test_guessing_gets_nothing(public):
    name = public.thumbnail_url.rsplit("/", 1)[-1]
    original = public.original.name.rsplit("/", 1)[-1]
    for path in (
        f"/media/{public.public_id}/public/{original}",  # the original has no public URL
        f"/media/{public.public_id}/public/{name[:-8]}-999.webp",
        f"/media/aaaaaaaaaaaa/public/{name}",
        f"/media/{public.public_id}/public/..%2F..%2Fsettings.py",
    ):
        assert served(path)[0] == 404, path
        assert Client().get(path).status_code == 404, path


def test_without_anonymous_browsing_public_files_are_for_members_only(public, other_user):
    SiteSettings.objects.filter(pk=1).delete()
    SiteSettings.objects.create(pk=1, anonymous_browsing=False)
    url = public.thumbnail_url
    assert served(url)[0] == 404
    status, headers, _ = served(url, cookie=session_cookie(other_user))
    assert status == 200
    assert headers["cache-control"].startswith("private")


def test_workers_lower_their_priority_unless_told_not_to(settings, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "nice", calls.append)
    gallery_worker.lower_priority()
    settings.GALLERY_WORKER_NICE = 0
    gallery_worker.lower_priority()
    assert calls == [10]
