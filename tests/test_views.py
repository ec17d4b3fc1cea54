"""The web pages, through Django's test client."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from gallery.models import Generation
from tests.conftest import content_of, is_signed_copy
from tests.factories import make_done, make_failed, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
Status = Generation.Status


@pytest.fixture
def client(client, owner):
    """Most of these pages are used signed in; the anonymous cases use `visitor` or a Client."""
    client.force_login(owner)
    return client


# --- the form -------------------------------------------------------------------------------


def test_home_shows_the_form_with_limits_and_an_empty_gallery(client):
    page = client.get("/").content.decode()
    assert 'name="prompt"' in page and 'name="negative_prompt"' in page
    assert 'maxlength="1000"' in page
    assert "Up to 1000 characters" in page
    assert "No images yet" in page
    assert "csrfmiddlewaretoken" in page


def test_submitting_a_prompt_queues_it_and_opens_its_page(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/generate", {"prompt": " a red fox ", "negative_prompt": ""})

    item = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/g/{item.public_id}/"
    assert item.prompt == "a red fox"
    assert DBTaskResult.objects.filter(id=item.task_id).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prompt": "", "negative_prompt": ""}, "Describe the image you want."),
        ({"prompt": "   ", "negative_prompt": ""}, "Describe the image you want."),
        (
            {"prompt": "x" * 1001, "negative_prompt": ""},
            "Keep the prompt to 1000 characters (it has 1001).",
        ),
        (
            {"prompt": "ok", "negative_prompt": "n" * 1200},
            "Keep the negative prompt to 1000 characters (it has 1200).",
        ),
    ],
)
def test_an_invalid_form_re_renders_with_the_error_and_keeps_the_input(client, data, message):
    response = client.post("/generate", data)

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    if data["negative_prompt"]:
        assert data["negative_prompt"] in page  # what the user typed is still there
    assert Generation.objects.count() == 0


def test_anonymous_visitors_are_asked_to_sign_in_before_generating(visitor):
    page = visitor.get("/").content.decode()
    assert 'name="prompt"' not in page
    assert "Sign in to generate images" in page
    response = visitor.post("/generate", {"prompt": "a red fox"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Generation.objects.count() == 0


def test_submitting_records_the_owner_and_the_sites_default_visibility(client, owner):
    client.post("/generate", {"prompt": "mine"})
    item = Generation.objects.get()
    assert item.owner == owner
    assert item.visibility == Generation.Visibility.PUBLIC


def test_posting_without_a_csrf_token_is_refused(owner):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    assert csrf_client.post("/generate", {"prompt": "a red fox"}).status_code == 403
    assert Generation.objects.count() == 0

    page = csrf_client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = csrf_client.post("/generate", {"prompt": "a red fox", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


# --- the generation page and its live status ------------------------------------------------


def test_status_fragment_keeps_polling_while_queued_or_running(client, owner):
    item = Generation.objects.create(prompt="waiting", owner=owner, queued_at=timezone.now())
    fragment = client.get(f"/g/{item.public_id}/status").content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    assert "Queued" in fragment
    assert "<html" not in fragment  # only the fragment

    Generation.objects.filter(pk=item.pk).update(
        status=Status.RUNNING, status_note="The endpoint is busy. Trying again in 4 s."
    )
    fragment = client.get(f"/g/{item.public_id}/status").content.decode()
    assert "Generating" in fragment
    assert "Trying again in 4 s" in fragment


def test_status_fragment_stops_polling_and_shows_the_image_when_done(client, finished):
    fragment = client.get(f"/g/{finished.public_id}/status").content.decode()
    assert "hx-trigger" not in fragment
    assert finished.original_url in fragment
    assert "1024 × 1024 JPEG" in fragment


def test_a_failed_generation_says_why_and_offers_a_retry(
    client, owner, django_capture_on_commit_callbacks
):
    item = make_failed("p", "The endpoint rejected the access token.", owner=owner)
    page = client.get(item.get_absolute_url()).content.decode()
    assert "The endpoint rejected the access token." in page
    assert "hx-trigger" not in page
    assert f'action="/g/{item.public_id}/retry"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/g/{item.public_id}/retry")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == Status.QUEUED


def test_unknown_generation_is_404(client):
    assert client.get("/g/doesnotexist/").status_code == 404
    assert client.get("/g/doesnotexist/status").status_code == 404


def test_the_detail_page_shows_both_prompts_and_metadata(client, finished):
    Generation.objects.filter(pk=finished.pk).update(negative_prompt="people")
    page = client.get(finished.get_absolute_url()).content.decode()
    assert "a quiet harbour" in page and "people" in page
    assert finished.sha256[:16] in page
    assert "Test stand-in" in page


# --- the gallery grid -----------------------------------------------------------------------


def _walk(client, path="/"):
    """Yield each page's public ids, following the 'Older images' link."""
    while path:
        page = client.get(path).content.decode()
        yield re.findall(r'href="/g/([a-z0-9]+)/"', page)
        link = re.search(r'href="(\?before=\d+)"', page)
        path = "/" + link.group(1) if link else None


def test_gallery_pages_newest_first_without_gaps_or_duplicates_while_rows_arrive(client, settings):
    settings.GALLERY_PAGE_SIZE = 5
    originals = [make_done(f"image {n}") for n in range(12)]
    Generation.objects.create(prompt="still queued")  # never listed

    seen = []
    for n, ids in enumerate(_walk(client)):
        seen.extend(ids)
        make_done(f"arrived while browsing {n}")  # newer than anything being paged through

    assert seen == [g.public_id for g in reversed(originals)]


def test_the_gallery_runs_the_same_queries_on_every_page(
    client, settings, django_assert_num_queries
):
    settings.GALLERY_PAGE_SIZE = 10
    rows = [make_done(f"image {n}") for n in range(35)]
    # The session, the signed-in user, one query for the page itself, one for which of its
    # images the user starred, the user's daily quota and the style presets of the prompt
    # form; the first page also asks for the user's own work in progress (its live tiles).
    with django_assert_num_queries(7):
        client.get("/")
    with django_assert_num_queries(6):
        client.get(f"/?before={rows[20].pk}")


def test_htmx_asks_for_just_the_next_page(client, settings):
    settings.GALLERY_PAGE_SIZE = 2
    rows = [make_done(f"image {n}") for n in range(3)]
    fragment = client.get(f"/?before={rows[2].pk}", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert rows[1].public_id in fragment and rows[0].public_id in fragment


def test_only_the_first_screenful_of_tiles_loads_eagerly(client, settings):
    settings.GALLERY_PAGE_SIZE = 20
    rows = [make_done(f"image {n}") for n in range(25)]
    first = client.get("/").content.decode()
    assert first.count('loading="lazy"') == 20 - 12
    older = client.get(f"/?before={rows[5].pk}").content.decode()
    assert older.count('loading="lazy"') == 5


def test_a_malformed_cursor_shows_the_first_page(client):
    make_done("first")
    assert "first" in client.get("/?before=abc").content.decode()


# --- media ----------------------------------------------------------------------------------


def test_media_serves_the_rows_files_with_their_types(client, finished):
    original = client.get(finished.original_url)
    assert original.status_code == 200
    assert original["Content-Type"] == "image/jpeg"
    assert is_signed_copy(content_of(original), finished.original.read())
    thumb = client.get(finished.thumbnail_2x_url)
    assert thumb["Content-Type"] == "image/webp"
    assert "immutable" in thumb["Cache-Control"]
    download = client.get(finished.original_url + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("filename", ["other.jpg", "..%2F..%2Fgallery.sqlite3", "x-256.webp"])
def test_media_serves_nothing_that_is_not_one_of_the_rows_files(client, finished, filename):
    assert client.get(f"/media/{finished.public_id}/{filename}").status_code == 404


def test_a_private_image_and_its_files_are_404_to_everyone_but_its_owner_and_staff(
    client, owner, other_user, finished
):
    Generation.objects.filter(pk=finished.pk).update(visibility=Generation.Visibility.PRIVATE)
    finished.refresh_from_db()  # a private image's thumbnails have the private URL
    urls = [finished.get_absolute_url(), finished.original_url, finished.thumbnail_url]
    other = signed_in(other_user)
    for url in urls:
        assert other.get(url).status_code == 404
        assert Client().get(url).status_code == 404
    assert finished.public_id not in other.get("/").content.decode()

    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    for url in urls:
        assert client.get(url).status_code == 200
    assert finished.public_id in client.get("/").content.decode()


def test_media_of_an_unfinished_generation_is_404(client, finished):
    Generation.objects.filter(pk=finished.pk).update(status=Status.RUNNING)
    assert client.get(finished.original_url).status_code == 404


# --- staff actions and secrets --------------------------------------------------------------


def test_only_the_owner_and_staff_can_delete(
    client, owner, finished, django_capture_on_commit_callbacks
):
    url = reverse("gallery:delete", args=[finished.public_id])
    assert Client().post(url).status_code == 302  # to the login page
    assert client.post(url).status_code == 404  # someone else's image
    assert "Delete" not in client.get(finished.get_absolute_url()).content.decode()
    assert Generation.objects.filter(pk=finished.pk).exists()

    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    assert "Delete" in client.get(finished.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    assert not Generation.objects.filter(pk=finished.pk).exists()


def test_staff_can_delete_anyones_image(
    client, moderator, finished, django_capture_on_commit_callbacks
):
    url = reverse("gallery:delete", args=[finished.public_id])
    client.force_login(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    assert not Generation.objects.filter(pk=finished.pk).exists()


def test_the_stand_in_is_labelled_and_the_token_never_rendered(client, settings, finished):
    settings.OVH_AI_ENDPOINTS_ACCESS_TOKEN = "s3cret-token"
    settings.GALLERY_STANDIN = True
    for url in ("/", finished.get_absolute_url(), f"/g/{finished.public_id}/status"):
        page = client.get(url).content.decode()
        assert "s3cret-token" not in page
    assert "it is not Stable Diffusion XL" in client.get("/").content.decode()

    settings.GALLERY_STANDIN = False
    assert "Offline stand-in" not in client.get("/").content.decode()


def test_a_missing_page_gets_the_sites_own_404(client):
    response = client.get("/g/nope/")
    assert response.status_code == 404
    assert "Back to the gallery" in response.content.decode()


def test_the_menu_fragment_follows_the_access_rules(finished, owner, other_user):
    finished.owner = owner
    finished.save(update_fields=["owner"])
    url = f"/g/{finished.public_id}/menu"
    mine, theirs = Client(), Client()
    mine.force_login(owner)
    theirs.force_login(other_user)
    page = mine.get(url)
    assert page.status_code == 200
    assert b"Edit prompt" in page.content and b"More like this" in page.content
    assert Client().get(url).status_code == 200  # public: a visitor may copy and open it
    assert b"Edit prompt" not in Client().get(url).content
    assert mine.post(url).status_code == 405
    finished.visibility = Generation.Visibility.PRIVATE
    finished.save(update_fields=["visibility"])
    assert theirs.get(url).status_code == 404
    assert Client().get(url).status_code == 404
    assert mine.get(url).status_code == 200
    assert mine.get("/g/nosuchimage/menu").status_code == 404


def test_a_prompt_with_markup_is_shown_as_text_on_every_tile(owner, no_limits):
    from gallery.services import collections, sharing

    prompt = '<script>alert("x")</script> & <b>bold</b>'
    item = make_done(prompt, owner=owner)
    make_done("a second image", owner=owner, visibility="private")
    album = collections.create(owner, "Markup", visibility="public")
    collections.add(owner, album, [item])
    link = sharing.create(owner, album)
    pages = {
        "grid, visitor": Client().get("/"),
        "grid, owner": signed_in(owner).get("/?sort=oldest&mine=1"),
        "collection": Client().get(album.get_absolute_url()),
        "share link": Client().get(link.get_absolute_url()),
    }
    for name, response in pages.items():
        page = response.content.decode()
        assert "<script>alert" not in page and "<b>bold" not in page, name
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in page, name
    # A tile's link carries the list's filters, escaped once.
    assert f'href="/g/{item.public_id}/?mine=1&amp;sort=oldest"' in (
        pages["grid, owner"].content.decode()
    )
