"""Content Credentials on what leaves the gallery, and the verify page.

The downloads are read back with c2pa-python itself (trusting the installation's CA, as a
validator told about it would), not with the gallery's own reader.
"""

import io
import json
import zipfile

import c2pa
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from gallery.models import Generation, Preferences
from gallery.services import endpoint, moderation, provenance, storage, worker
from tests.conftest import content_of, stored_files
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PROMPT = "a quiet harbour at dawn"

_made: dict = {}  # the pipeline's output, made once per module and copied into each test


@pytest.fixture
def image(client_for, media_root, owner) -> Generation:
    """A public generation of `owner`'s, with the files the real pipeline made for it."""
    if not _made:
        item = Generation.objects.create(prompt=PROMPT, owner=owner, queued_at=timezone.now())
        worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
        item.refresh_from_db()
        assert item.status == Generation.Status.SUCCEEDED
        _made["row"] = {
            f.attname: getattr(item, f.attname).name
            if f.attname in Generation.FILE_FIELDS
            else getattr(item, f.attname)
            for f in Generation._meta.concrete_fields
            if f.attname not in ("id", "public_id", "owner_id", "created_at")
        }
        _made["files"] = {
            getattr(item, f).name: getattr(item, f).read() for f in Generation.FILE_FIELDS
        }
        item.refresh_from_db()
        return item
    for name, data in _made["files"].items():
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(data)
    return Generation.objects.create(**_made["row"], owner=owner)


def download(item: Generation, client: Client | None = None) -> bytes:
    response = (client or Client()).get(item.original_url + "?download=1")
    assert response.status_code == 200
    return content_of(response)


def stored(item: Generation) -> bytes:
    with item.original.open("rb") as handle:
        return handle.read()


def read_back(data: bytes) -> tuple[str, dict]:
    """(validation state, active manifest) as c2pa-python reports them, trusting this
    installation's CA."""
    anchors = (settings.GALLERY_C2PA_DIR / provenance.CA_FILE).read_text()
    context = c2pa.Context.from_dict({"trust": {"user_anchors": anchors}})
    with context, c2pa.Reader("image/jpeg", io.BytesIO(data), context=context) as reader:
        store = json.loads(reader.json())
        return reader.get_validation_state(), store["manifests"][store["active_manifest"]]


def created_action(manifest: dict) -> dict:
    [actions] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    [created] = [a for a in actions["data"]["actions"] if a["action"] == "c2pa.created"]
    return created


def tamper(data: bytes) -> bytes:
    """One byte of the image changed: in the JPEG's entropy-coded data, just before EOI."""
    changed = bytearray(data)
    changed[-20] ^= 0x01
    return bytes(changed)


# --- What leaves the gallery ------------------------------------------------------------------


def test_a_download_validates_with_the_installations_chain_and_says_ai_generated(image):
    data = download(image)
    state, manifest = read_back(data)
    assert state == "Trusted"
    action = created_action(manifest)
    assert action["digitalSourceType"] == AI
    assert action["softwareAgent"]["name"] == f"SDXL Gallery ({image.endpoint_label})"
    assert action["when"] == image.created_at.isoformat(timespec="seconds")
    assert action["parameters"]["prompt"] == PROMPT  # the owner allows metadata (default)
    assert manifest["claim_generator_info"][0]["name"] == "SDXL Gallery"
    # One byte of the image changed: the manifest no longer validates.
    assert read_back(tamper(data))[0] == "Invalid"
    # The stored original is untouched: its hash is still the row's.
    assert provenance.sha256(stored(image)) == image.sha256


def test_the_history_zip_holds_signed_copies(image, owner):
    response = signed_in(owner).post("/history/bulk", {"ids": [image.public_id], "action": "zip"})
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(content_of(response))) as archive:
        data = archive.read(f"{image.public_id}.jpg")
    state, manifest = read_back(data)
    assert state == "Trusted" and created_action(manifest)["digitalSourceType"] == AI
    image.refresh_from_db()
    assert image.signed_sha256 == provenance.sha256(data)  # the same stored copy


def test_the_signed_copy_is_made_once_and_reused(image, media_root):
    first = download(image)
    image.refresh_from_db()
    name = image.signed_original.name
    assert name.startswith("signed/") and image.signed_sha256 == provenance.sha256(first)
    # Signing again would make a new manifest (a fresh id and time): same bytes, same file.
    assert download(image) == first
    assert download(image, signed_in(image.owner)) == first
    image.refresh_from_db()
    assert image.signed_original.name == name
    assert [f for f in stored_files(media_root) if f.startswith("signed/")] == [name]


def test_the_prompt_stays_out_when_the_owner_keeps_metadata_out(
    image, media_root, owner, django_capture_on_commit_callbacks
):
    with_prompt = download(image)
    Preferences.objects.create(user=owner, embed_metadata=False)
    with django_capture_on_commit_callbacks(execute=True):
        data = download(image)
    assert data != with_prompt
    state, manifest = read_back(data)
    assert state == "Trusted"
    action = created_action(manifest)
    assert action["digitalSourceType"] == AI and "parameters" not in action
    assert PROMPT.encode() not in data
    # The copy made with the prompt was replaced, and deleted once that committed.
    image.refresh_from_db()
    assert [f for f in stored_files(media_root) if f.startswith("signed/")] == [
        image.signed_original.name
    ]


def test_deleting_an_image_deletes_its_signed_copy(
    image, media_root, owner, django_capture_on_commit_callbacks
):
    download(image)
    image.refresh_from_db()
    assert image.signed_original  # there is a copy to delete
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(owner).post(f"/g/{image.public_id}/delete")
    assert response.status_code == 302
    assert stored_files(media_root) == []


def test_a_removal_deletes_the_signed_copy_too(
    image, media_root, moderator, django_capture_on_commit_callbacks
):
    download(image)
    image.refresh_from_db()
    assert image.signed_original  # there is a copy to delete
    with django_capture_on_commit_callbacks(execute=True):
        moderation.remove(image, actor=moderator, reason="Not allowed here.")
    assert stored_files(media_root) == []


def test_a_dead_claims_files_include_its_signed_copies():
    names = storage.file_names("abcdefghijkm", "0123456789abcdef", "jpg")
    possible = storage.possible_files("abcdefghijkm", "0123456789abcdef")
    assert set(storage.signed_names(names.original)) <= set(possible)


def test_the_detail_page_says_downloads_carry_content_credentials(image):
    page = Client().get(image.get_absolute_url()).content.decode()
    assert 'data-testid="content-credentials"' in page
    assert "signed by this gallery and marked AI-generated" in page
    assert 'href="/verify"' in page


# --- The verify page --------------------------------------------------------------------------


def check(data: bytes, client: Client | None = None, name: str = "copy.jpg"):
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return (client or Client()).post("/verify", {"image": upload})


def test_the_verify_page_offers_a_file_picker_and_a_drop_zone():
    page = Client().get("/verify")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'enctype="multipart/form-data"' in html and 'name="image"' in html
    assert "data-drop-zone" in html


def test_a_signed_download_is_valid_ai_generated_and_matched(image, other_user):
    response = check(download(image), signed_in(other_user))
    assert response.status_code == 200
    html = response.content.decode()
    result = response.context["result"]
    assert result.reading.state == provenance.TRUSTED and result.reading.ai_generated
    assert result.match == image and result.matched_signed_copy
    assert "AI-generated" in html and f"SDXL Gallery ({image.endpoint_label})" in html
    assert f'href="{image.get_absolute_url()}"' in html


def test_a_tampered_download_is_called_tampered(image):
    response = check(tamper(download(image)))
    assert response.status_code == 200
    assert response.context["result"].reading.state == provenance.TAMPERED
    assert "Tampered" in response.content.decode()
    assert response.context["result"].match is None  # its bytes are no longer ours


def test_a_file_without_credentials_says_none_and_matches_the_original(image):
    response = check(stored(image))
    result = response.context["result"]
    assert result.reading.state == provenance.NONE
    assert result.match == image and not result.matched_signed_copy
    assert "carries no C2PA manifest" in response.content.decode()


def test_a_private_images_copy_is_not_linked_nor_named_for_others(image, other_user):
    data = download(image, signed_in(image.owner))
    Generation.objects.filter(pk=image.pk).update(visibility="private")
    for client in (Client(), signed_in(other_user)):
        response = check(data, client)
        html = response.content.decode()
        assert response.context["result"].match is None
        assert image.public_id not in html and PROMPT not in html
        assert "No image you can see here has these bytes or looks like it." in html
        assert response.context["result"].similar is None
    # Its owner is shown the link.
    assert check(data, signed_in(image.owner)).context["result"].match == image


@pytest.mark.parametrize("size", [5_000, 200_000])  # within the form's overhead, and beyond
def test_a_file_over_the_cap_is_refused_unread(settings, size):
    settings.GALLERY_VERIFY_MAX_BYTES = 1_000
    response = check(b"\xff\xd8" + b"\0" * size)
    assert response.status_code == 413
    assert "larger than this page checks" in response.content.decode()
    assert "result" not in response.context


def test_something_that_is_not_an_image_is_refused():
    response = check(b"<html><body>hello</body></html>", name="page.html")
    assert response.status_code == 400
    assert "Not a JPEG, PNG or WebP image." in response.content.decode()


def test_no_file_is_refused():
    response = Client().post("/verify", {})
    assert response.status_code == 400
    assert "Choose an image file" in response.content.decode()


def test_the_verify_page_is_rate_limited_per_address(settings, image, fixed_clock):
    settings.GALLERY_IP_RATES = {**settings.GALLERY_IP_RATES, "verify": "2/m"}
    data = stored(image)
    assert [check(data).status_code for _ in range(3)] == [200, 200, 429]
    assert "Too many requests from your network" in check(data).content.decode()


def test_the_verify_form_needs_its_csrf_token():
    client = Client(enforce_csrf_checks=True)
    upload = SimpleUploadedFile("a.jpg", b"\xff\xd8", content_type="image/jpeg")
    assert client.post("/verify", {"image": upload}).status_code == 403


def test_an_operators_own_chain_signs_and_reads_back(settings, tmp_path, image):
    """GALLERY_C2PA_CERT_CHAIN / _PRIVATE_KEY instead of the self-made chain; without trust
    anchors configured, the gallery calls its signature valid but not trusted."""
    provenance.make_chain(tmp_path / "operator")
    settings.GALLERY_C2PA_CERT_CHAIN = str(tmp_path / "operator" / provenance.CHAIN_FILE)
    settings.GALLERY_C2PA_PRIVATE_KEY = str(tmp_path / "operator" / provenance.KEY_FILE)
    data = download(image)
    assert provenance.verify_file(data, image.owner).reading.state == provenance.VALID
    settings.GALLERY_C2PA_TRUST_ANCHORS = str(tmp_path / "operator" / provenance.CA_FILE)
    assert provenance.verify_file(data, image.owner).reading.state == provenance.TRUSTED
