"""Detail actions, downloads with metadata, favourites, history and preferences."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from gallery.models import Favourite, Generation, Preferences
from gallery.services import endpoint, images, worker
from tests.conftest import content_of, is_signed_copy
from tests.factories import make_failed

pytestmark = [pytest.mark.web, pytest.mark.django_db]
Status = Generation.Status


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


_FILES = ("original", "thumbnail", "thumbnail_2x", "preview_image")
_made: dict = {}  # the pipeline's output, made once per module and copied into each test


@pytest.fixture
def mine(client_for, media_root, owner) -> Generation:
    """A generation of `owner`'s, with the files the real pipeline made for it."""
    fields = {"prompt": "a quiet harbour at dawn", "negative_prompt": "people, text"}
    if not _made:
        item = Generation.objects.create(**fields, owner=owner, queued_at=timezone.now())
        worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
        item.refresh_from_db()
        _made["row"] = {
            f.attname: getattr(item, f.attname).name
            if f.attname in _FILES
            else getattr(item, f.attname)
            for f in Generation._meta.concrete_fields
            if f.attname not in ("id", "public_id", "owner_id", "created_at")
        }
        _made["files"] = {getattr(item, f).name: getattr(item, f).read() for f in _FILES}
        item.refresh_from_db()  # fresh file handles for the test
        return item
    for name, data in _made["files"].items():
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(data)
    return Generation.objects.create(**_made["row"], owner=owner)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.tobytes()


# --- detail page ----------------------------------------------------------------------------


def test_the_detail_page_shows_the_preview_not_the_original(signed_in, mine):
    page = signed_in.get(mine.get_absolute_url()).content.decode()
    assert f'src="{mine.preview_url}"' in page
    assert f'src="{mine.original_url}"' not in page
    assert f'href="{mine.original_url}?download=1"' in page  # the original on request
    preview = signed_in.get(mine.preview_url)
    assert preview["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(b"".join(preview.streaming_content))) as img:
        assert img.size == (1024, 1024)


def test_an_older_row_without_a_preview_shows_its_large_thumbnail(signed_in, mine):
    Generation.objects.filter(pk=mine.pk).update(preview_image="")
    mine.refresh_from_db()
    page = signed_in.get(mine.get_absolute_url()).content.decode()
    assert f'src="{mine.thumbnail_2x_url}"' in page


def test_deleting_removes_the_preview_with_the_other_files(
    signed_in, mine, media_root, django_capture_on_commit_callbacks
):
    assert (media_root / mine.preview_image.name).exists()
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(f"/g/{mine.public_id}/delete")
    assert not any(p.is_file() for p in media_root.rglob("*"))


# --- downloads keep their prompt ------------------------------------------------------------


def test_a_downloaded_jpeg_carries_the_prompt_with_identical_pixels(signed_in, mine):
    stored = mine.original.read()
    response = signed_in.get(mine.original_url + "?download=1")
    assert response["Content-Disposition"] == f'attachment; filename="{mine.public_id}.jpg"'
    data = content_of(response)
    assert data != stored and pixels(data) == pixels(stored)
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        assert exif[0x010E] == "a quiet harbour at dawn"  # ImageDescription
        assert exif[0x0131] == "Generated with SDXL Gallery"  # Software
        comment = exif.get_ifd(0x8769)[0x9286]
        assert comment.startswith(b"UNICODE\0")
        assert comment[8:].decode("utf-16-be") == (
            "a quiet harbour at dawn\nNegative prompt: people, text"
        )
        xmp = img.info["xmp"].decode()
    assert "<sdxl:NegativePrompt>people, text</sdxl:NegativePrompt>" in xmp
    # Tools that read IPTC but not C2PA see "AI-generated" too.
    assert (
        "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/"
        "trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>"
    ) in xmp
    assert f"http://testserver/g/{mine.public_id}/" in xmp
    # The stored file is untouched.
    mine.original.open("rb")
    assert hashlib.sha256(mine.original.read()).hexdigest() == mine.sha256


def test_the_owners_preference_turns_embedding_off_for_every_downloader(signed_in, mine, owner):
    Preferences.objects.create(user=owner, embed_metadata=False)
    stored = mine.original.read()
    for client in (signed_in, Client()):  # anonymous too
        response = client.get(mine.original_url + "?download=1")
        assert response["Content-Disposition"].startswith("attachment")
        data = content_of(response)
        # The signed copy without the prompt: the pixels and the manifest, no metadata.
        assert is_signed_copy(data, stored)
        assert b"a quiet harbour" not in data and b"people, text" not in data


def test_anonymous_downloads_embed_by_default(mine):
    data = content_of(Client().get(mine.original_url + "?download=1"))
    with Image.open(io.BytesIO(data)) as img:
        assert img.getexif()[0x010E] == "a quiet harbour at dawn"


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("WEBP", "RGB", {"quality": 80}),
        ("WEBP", "RGBA", {"lossless": True}),
        ("JPEG", "RGB", {"quality": 90}),
    ],
)
def test_metadata_is_added_without_touching_the_pixels(fmt, mode, options):
    img = Image.radial_gradient("L").resize((300, 200)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    original = buf.getvalue()
    fields = images.Provenance(
        prompt="ünïcode & <tags> — 灯台",
        negative_prompt="blurry",
        public_id="abc234",
        page_url="https://gallery.example/g/abc234/",
        endpoint_label="Stand-in",
        created_at=timezone.now(),
    )
    out = images.with_metadata(original, fmt, fields)
    assert pixels(out) == pixels(original)
    with Image.open(io.BytesIO(out)) as result:
        assert (result.format, result.size) == (fmt, (300, 200))
        if fmt == "PNG":
            assert result.text["Description"] == "ünïcode & <tags> — 灯台"
            assert result.text["Negative prompt"] == "blurry"
        else:
            assert result.getexif()[0x0131] == "Generated with SDXL Gallery"
        assert "灯台" in result.info["xmp"].decode()


# --- generate again -------------------------------------------------------------------------


def test_generate_again_prefills_both_prompts_and_records_the_source(
    signed_in, mine, django_capture_on_commit_callbacks
):
    page = signed_in.get(f"/g/{mine.public_id}/again").content.decode()
    assert "\na quiet harbour at dawn</textarea>" in page
    assert "\npeople, text</textarea>" in page
    assert f'name="source" value="{mine.public_id}"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            "/generate",
            {"prompt": "a quiet harbour at dusk", "negative_prompt": "", "source": mine.public_id},
        )
    made = Generation.objects.get(prompt="a quiet harbour at dusk")
    assert response["Location"] == made.get_absolute_url()
    assert made.source == mine


def test_a_source_the_user_may_not_see_is_not_recorded(signed_in, finished):
    Generation.objects.filter(pk=finished.pk).update(visibility=Generation.Visibility.PRIVATE)
    assert signed_in.get(f"/g/{finished.public_id}/again").status_code == 404
    signed_in.post("/generate", {"prompt": "copycat", "source": finished.public_id})
    assert Generation.objects.get(prompt="copycat").source is None


# --- favourites -----------------------------------------------------------------------------


def test_starring_toggles_without_js_and_with_htmx(signed_in, owner, finished):
    url = f"/g/{finished.public_id}/star"
    response = signed_in.post(url, {"next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert Favourite.objects.filter(user=owner, generation=finished).exists()
    assert 'aria-pressed="true"' in signed_in.get("/").content.decode()

    fragment = signed_in.post(url, {"variant": "tile"}, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert "<html" not in html and 'aria-pressed="false"' in html
    assert not Favourite.objects.exists()


def test_no_one_can_star_what_they_may_not_see(signed_in, finished):
    Generation.objects.filter(pk=finished.pk).update(visibility=Generation.Visibility.PRIVATE)
    assert signed_in.post(f"/g/{finished.public_id}/star").status_code == 404
    assert Client().post(f"/g/{finished.public_id}/star").status_code == 302  # sign in first
    assert not Favourite.objects.exists()


def test_the_grid_reads_every_tiles_star_in_one_query(signed_in, owner, settings, mine):
    for n in range(5):
        Generation.objects.create(
            prompt=f"other {n}",
            status=Status.SUCCEEDED,
            original="originals/xx/x.jpg",
            thumbnail="thumbnails/xx/x-256.webp",
            thumbnail_2x="thumbnails/xx/x-512.webp",
            sha256="0" * 64,
        )
    Favourite.objects.create(user=owner, generation=mine)
    page = signed_in.get("/").content.decode()
    assert page.count('class="star is-starred"') == 1
    assert page.count('data-testid="star"') == 6


# --- history --------------------------------------------------------------------------------


def make_rows(owner, count, status=Status.QUEUED, **fields) -> list[Generation]:
    return [
        Generation.objects.create(prompt=f"row {n}", owner=owner, status=status, **fields)
        for n in range(count)
    ]


def test_history_lists_my_rows_in_every_status_newest_first(signed_in, owner, other_user):
    make_rows(other_user, 1)
    queued = make_rows(owner, 1)[0]
    failed = make_failed("broken", "Endpoint said no.", owner=owner)
    page = signed_in.get("/history").content.decode()
    assert page.index(failed.public_id) < page.index(queued.public_id)
    assert "Endpoint said no." in page
    assert f'formaction="/g/{failed.public_id}/retry"' in page
    assert page.count('name="ids"') == 2  # not bob's


def test_history_pages_are_cut_on_the_id(signed_in, owner):
    rows = make_rows(owner, 35)
    first = signed_in.get("/history").content.decode()
    assert rows[-1].public_id in first and rows[4].public_id not in first
    second = signed_in.get(f"/history?before={rows[5].pk}").content.decode()
    assert rows[4].public_id in second and rows[0].public_id in second


def test_history_needs_signing_in():
    assert Client().get("/history").status_code == 302


def test_bulk_delete_affects_only_my_own_rows(
    signed_in, owner, other_user, django_capture_on_commit_callbacks
):
    mine = make_rows(owner, 3)
    theirs = make_rows(other_user, 2)
    ids = [g.public_id for g in (mine[0], mine[1], *theirs)]
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post("/history/bulk", {"action": "delete", "ids": ids})
    assert response.status_code == 302
    left = set(Generation.objects.values_list("public_id", flat=True))
    assert left == {mine[2].public_id, *(g.public_id for g in theirs)}


def test_bulk_zip_holds_my_originals_and_a_manifest(signed_in, mine, finished):
    # `finished` belongs to nobody: its id is posted but must not end up in the zip.
    response = signed_in.post(
        "/history/bulk", {"action": "zip", "ids": [mine.public_id, finished.public_id]}
    )
    assert response["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert set(archive.namelist()) == {"manifest.jsonl", f"{mine.public_id}.jpg"}
    image = archive.read(f"{mine.public_id}.jpg")
    assert pixels(image) == pixels(mine.original.read())
    rows = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
    assert rows == [
        {
            "file": f"{mine.public_id}.jpg",
            "id": mine.public_id,
            "prompt": "a quiet harbour at dawn",
            "negative_prompt": "people, text",
            "created_at": mine.created_at.isoformat(),
            "width": 1024,
            "height": 1024,
            "format": "JPEG",
            "sha256": mine.sha256,
            "endpoint": "Test stand-in",
            "url": f"http://testserver/g/{mine.public_id}/",
        }
    ]


def test_a_zip_is_refused_over_its_limit(signed_in, owner, monkeypatch):
    from gallery.services import history

    monkeypatch.setattr(history, "ZIP_MAX_ITEMS", 2)
    rows = make_rows(owner, 3, status=Status.SUCCEEDED, original="o.jpg", sha256="0" * 64)
    response = signed_in.post(
        "/history/bulk", {"action": "zip", "ids": [g.public_id for g in rows]}, follow=True
    )
    assert "Select at most 2 images" in response.content.decode()


def test_bulk_actions_need_the_csrf_token(owner):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    row = make_rows(owner, 1)[0]
    response = csrf_client.post("/history/bulk", {"action": "delete", "ids": [row.public_id]})
    assert response.status_code == 403
    assert Generation.objects.filter(pk=row.pk).exists()


# --- preferences ----------------------------------------------------------------------------


def test_preferences_change_the_default_visibility_and_embedding(
    signed_in, owner, django_capture_on_commit_callbacks
):
    page = signed_in.get("/account/preferences").content.decode()
    assert "The site&#x27;s default (public)" in page
    response = signed_in.post(
        "/account/preferences",
        {"default_visibility": "private"},  # checkbox left unticked
    )
    assert response.status_code == 302
    prefs = Preferences.objects.get(user=owner)
    assert (prefs.default_visibility, prefs.embed_metadata) == ("private", False)

    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post("/generate", {"prompt": "secret garden"})
    assert Generation.objects.get(prompt="secret garden").visibility == "private"


def test_preferences_need_signing_in():
    assert Client().get("/account/preferences").status_code == 302


def test_rebuilding_missing_files_makes_previews_for_older_rows(mine, media_root):
    from django.core.management import call_command

    Generation.objects.filter(pk=mine.pk).update(preview_image="")
    (media_root / mine.preview_image.name).unlink()
    out = io.StringIO()
    call_command("rebuild_thumbnails", "--missing-only", "--no-progress", stdout=out)
    assert "Rebuilt 1," in out.getvalue()
    mine.refresh_from_db()
    with Image.open(mine.preview_image.path) as img:
        assert (img.format, img.size) == ("WEBP", (1024, 1024))
    out = io.StringIO()
    call_command("rebuild_thumbnails", "--missing-only", "--no-progress", stdout=out)
    assert "Rebuilt 0," in out.getvalue()  # nothing left to do


def test_retry_from_history_comes_back_to_history(
    signed_in, owner, django_capture_on_commit_callbacks
):
    failed = make_failed("broken", "Endpoint said no.", owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/g/{failed.public_id}/retry", {"next": "/history"})
    assert response["Location"] == "/history"
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED
    # An outside `next` is not followed.
    Generation.objects.filter(pk=failed.pk).update(status=Status.FAILED, failure_reason="No.")
    response = signed_in.post(f"/g/{failed.public_id}/retry", {"next": "https://evil.example/"})
    assert response["Location"] == failed.get_absolute_url()


def test_a_file_whose_container_cannot_be_read_is_downloaded_untouched(signed_in, mine):
    # A JPEG whose header is cut off: the download is the stored file, not a broken one.
    broken = mine.original.read()[:40]
    Path(mine.original.path).write_bytes(broken)
    assert signed_in.get(mine.original_url + "?download=1").content == broken
