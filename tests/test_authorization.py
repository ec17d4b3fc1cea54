"""Who may do what to an image: every cell of the matrix, asserted one by one.

Users: a visitor (anonymous), another signed-in user, the owner, a moderator (staff with the
admin's generation permissions). Images: public, private, hidden by a moderator, pending
review (all done, with real files made once by the pipeline and shared by every row).

Outcomes:
    listed / absent   the image's tile is or is not in the gallery grid
    200               the page, or the file's exact bytes (download: as an attachment)
    404               not found, whether it exists or not
    login             redirected to sign in (nothing done)
    admin-login       redirected to the admin's sign-in (nothing shown)
    deleted           the row is gone, back to the gallery
    reported          the report is recorded
    linked / unlinked the verify page, given the image's original, links to it or says
                      nothing about it (the same page as for a file it has never seen)
    400               refused with a message (own image, or one that isn't public)
    added             the image is now in the user's own collection
    made              a share link to the image was made

Collections and share links (the image in a public collection of the owner's, and in a link
the owner made to that collection):
    collection        whether the image's tile shows on the collection's page
    share-page        whether it shows to whoever holds the link (signed in or not)
    share-file        its preview, fetched through the link
    share-revoked     the same file once the link is revoked
    collect           the user puts the image into a collection of their own
    share-make        the user makes a share link to the image
    similar / -       the verify page, given a re-encoded, resized copy of the original,
                      links to the image as "very similar", or says nothing about it
    appealed          the owner's appeal is recorded (once: a hidden image)
    refused           back to the image's page with a message, nothing recorded
"""

import io

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from gallery.models import Appeal, Collection, Generation, Report, ShareLink
from gallery.services import collections, sharing, similarity
from tests.conftest import content_of, is_signed_copy

pytestmark = [pytest.mark.web, pytest.mark.django_db]

USERS = ("anonymous", "other", "owner", "staff")

MATRIX = """
action        state     anonymous    other     owner     staff
listing       public    listed       listed    listed    listed
listing       private   absent       absent    listed    listed
listing       hidden    absent       absent    listed    listed
listing       pending   absent       absent    listed    listed
detail        public    200          200       200       200
detail        private   404          404       200       200
detail        hidden    404          404       200       200
detail        pending   404          404       200       200
original      public    200          200       200       200
original      private   404          404       200       200
original      hidden    404          404       200       200
original      pending   404          404       200       200
thumbnail     public    200          200       200       200
thumbnail     private   404          404       200       200
thumbnail     hidden    404          404       200       200
thumbnail     pending   404          404       200       200
thumbnail_2x  public    200          200       200       200
thumbnail_2x  private   404          404       200       200
thumbnail_2x  hidden    404          404       200       200
thumbnail_2x  pending   404          404       200       200
preview_image public    200          200       200       200
preview_image private   404          404       200       200
preview_image hidden    404          404       200       200
preview_image pending   404          404       200       200
download      public    200          200       200       200
download      private   404          404       200       200
download      hidden    404          404       200       200
download      pending   404          404       200       200
delete        public    login        404       deleted   deleted
delete        private   login        404       deleted   deleted
delete        hidden    login        404       deleted   deleted
delete        pending   login        404       deleted   deleted
report        public    login        reported  400       reported
report        private   login        404       400       400
report        hidden    login        404       400       400
report        pending   login        404       400       400
verify        public    linked       linked    linked    linked
verify        private   unlinked     unlinked  linked    linked
verify        hidden    unlinked     unlinked  linked    linked
verify        pending   unlinked     unlinked  linked    linked
verify-copy   public    similar      similar   similar   similar
verify-copy   private   -            -         similar   similar
verify-copy   hidden    -            -         similar   similar
verify-copy   pending   -            -         similar   similar
appeal        public    login        refused   refused   refused
appeal        private   login        404       refused   refused
appeal        hidden    login        404       appealed  refused
appeal        pending   login        404       refused   refused
admin         public    admin-login  admin-login  admin-login  200
admin         private   admin-login  admin-login  admin-login  200
admin         hidden    admin-login  admin-login  admin-login  200
admin         pending   admin-login  admin-login  admin-login  200
collection    public    listed       listed    listed    listed
collection    private   absent       absent    listed    listed
collection    hidden    absent       absent    absent    absent
collection    pending   absent       absent    listed    listed
share-page    public    listed       listed    listed    listed
share-page    private   listed       listed    listed    listed
share-page    hidden    absent       absent    absent    absent
share-page    pending   absent       absent    absent    absent
share-file    public    200          200       200       200
share-file    private   200          200       200       200
share-file    hidden    404          404       404       404
share-file    pending   404          404       404       404
share-revoked public    404          404       404       404
share-revoked private   404          404       404       404
share-revoked hidden    404          404       404       404
share-revoked pending   404          404       404       404
collect       public    login        added     added     added
collect       private   login        404       added     added
collect       hidden    login        404       added     added
collect       pending   login        404       added     added
share-make    public    login        404       made      404
share-make    private   login        404       made      404
share-make    hidden    login        404       404       404
share-make    pending   login        404       404       404
"""


def _cells() -> list[tuple[str, str, str, str]]:
    rows = [line.split() for line in MATRIX.strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert header[2:] == list(USERS)
    return [(action, state, user, outcome) for action, state, *outcomes in body
            for user, outcome in zip(USERS, outcomes, strict=True)]  # fmt: skip


STATES = {
    "public": {"visibility": "public", "moderation": "visible"},
    "private": {"visibility": "private", "moderation": "visible"},
    "hidden": {"visibility": "public", "moderation": "hidden", "moderation_reason": "r"},
    "pending": {"visibility": "public", "moderation": "pending"},
}

# The pipeline's output, made once for the whole module and written into each test's
# fresh media root: one real generation instead of one per cell.
_MADE: dict = {}


@pytest.fixture
def files(request, media_root) -> dict:
    if not _MADE:
        made = request.getfixturevalue("finished")
        for field in Generation.FILE_FIELDS:
            name = getattr(made, field).name
            _MADE[field] = (name, (media_root / name).read_bytes())
        for field in ("width", "height", "format", "byte_size", "sha256", "placeholder_color"):
            _MADE[field] = getattr(made, field)
        _MADE["phash"] = similarity.fields_for(made.phash & ((1 << 64) - 1))
        Generation.objects.filter(pk=made.pk).delete()  # the row only; its files stay
    else:
        for field in Generation.FILE_FIELDS:
            name, data = _MADE[field]
            (media_root / name).parent.mkdir(parents=True, exist_ok=True)
            (media_root / name).write_bytes(data)
    return _MADE


@pytest.fixture
def people(other_user, owner, moderator) -> dict[str, User | None]:
    """The suite's people (tests/factories.py); the moderator has the admin's view and change
    permissions on generations."""
    return {"anonymous": None, "other": other_user, "owner": owner, "staff": moderator}


def _image(files: dict, owner: User, **state: str) -> Generation:
    """A done image of `owner`'s, on the pipeline's real files, in the given state."""
    return Generation.objects.create(
        prompt="a lighthouse",
        owner=owner,
        status=Generation.Status.SUCCEEDED,
        **{field: files[field][0] for field in Generation.FILE_FIELDS},
        **{k: files[k] for k in ("width", "height", "format", "byte_size", "sha256")},
        **files["phash"],
        **state,
    )


@pytest.mark.parametrize(("action", "state", "user", "expected"), _cells())
def test_matrix(action, state, user, expected, files, people):
    item = _image(files, people["owner"], **STATES[state])
    client = Client()
    if people[user]:
        client.force_login(people[user])

    if action == "listing":
        page = client.get(reverse("gallery:index"))
        assert page.status_code == 200
        shown = item.get_absolute_url() in page.content.decode()
        assert ("listed" if shown else "absent") == expected
        return

    if action in (*Generation.FILE_FIELDS, "download"):
        field = "original" if action == "download" else action
        url = item.media_url(field) + ("?download=1" if action == "download" else "")
        response = client.get(url)
        assert str(response.status_code) == expected
        if response.status_code == 200:
            data = content_of(response)
            if field == "original":
                # The signed copy with its prompt embedded (test_detail checks the bytes).
                assert is_signed_copy(data, files[field][1])
                assert b"a lighthouse" in data
            else:
                assert data == files[field][1]
            attachment = response["Content-Disposition"].startswith("attachment")
            assert attachment is (action == "download")
        return

    if action == "detail":
        response = client.get(item.get_absolute_url())
        assert str(response.status_code) == expected
        if expected == "200":
            assert "a lighthouse" in response.content.decode()
        return

    if action == "verify":
        upload = SimpleUploadedFile("a.jpg", files["original"][1], content_type="image/jpeg")
        response = client.post(reverse("gallery:verify"), {"image": upload})
        assert response.status_code == 200
        page = response.content.decode()
        linked = item.get_absolute_url() in page
        assert ("linked" if linked else "unlinked") == expected
        if not linked:
            assert item.public_id not in page and "a lighthouse" not in page
        return

    if action == "verify-copy":
        # Another file altogether (new bytes): only the perceptual hash can find it.
        with Image.open(io.BytesIO(files["original"][1])) as img:
            buf = io.BytesIO()
            img.convert("RGB").resize((700, 700)).save(buf, "JPEG", quality=70)
        upload = SimpleUploadedFile("copy.jpg", buf.getvalue(), content_type="image/jpeg")
        response = client.post(reverse("gallery:verify"), {"image": upload})
        assert response.status_code == 200
        page = response.content.decode()
        linked = item.get_absolute_url() in page
        assert ("similar" if linked else "-") == expected
        if linked:
            assert 'data-testid="similar-match"' in page
        else:
            assert item.public_id not in page and "a lighthouse" not in page
        return

    if action == "appeal":
        response = client.post(
            reverse("gallery:appeal", args=[item.public_id]), {"note": "Please look again."}
        )
        outcome = _redirect_or_status(response)
        recorded = Appeal.objects.filter(generation=item).exists()
        if outcome == "detail":
            outcome = "appealed" if recorded else "refused"
        assert outcome == expected
        assert recorded is (expected == "appealed")
        return

    if action == "delete":
        response = client.post(reverse("gallery:delete", args=[item.public_id]))
        outcome = _redirect_or_status(response)
        gone = not Generation.objects.filter(pk=item.pk).exists()
        if outcome == "index" and gone:
            outcome = "deleted"
        assert outcome == expected
        assert gone is (expected == "deleted")
        return

    if action == "report":
        response = client.post(
            reverse("gallery:report", args=[item.public_id]), {"category": "spam"}
        )
        outcome = _redirect_or_status(response)
        recorded = Report.objects.filter(generation=item).exists()
        if outcome in ("detail", "index") and recorded:
            outcome = "reported"
        assert outcome == expected
        assert recorded is (expected == "reported")
        return

    if action in ("collection", "share-page", "share-file", "share-revoked"):
        album = collections.create(people["owner"], "album", visibility="public")
        Collection.images.through.objects.create(collection=album, generation=item)
        link = ShareLink.objects.create(owner=people["owner"], collection=album)
        if action == "collection":
            page = client.get(album.get_absolute_url())
        elif action == "share-page":
            page = client.get(link.get_absolute_url())
        else:
            if action == "share-revoked":
                sharing.revoke(people["owner"], link.token)
            name = item.preview_image.name.rsplit("/", 1)[-1]
            url = reverse("gallery:share_media", args=[link.token, item.public_id, name])
            response = client.get(url)
            assert str(response.status_code) == expected
            if expected == "200":
                assert content_of(response) == files["preview_image"][1]
            return
        assert page.status_code == 200
        shown = f'id="t-{item.public_id}"' in page.content.decode()
        assert ("listed" if shown else "absent") == expected
        return

    if action == "collect":
        response = client.post(
            reverse("gallery:collect", args=[item.public_id]), {"action": "new", "name": "mine"}
        )
        outcome = _redirect_or_status(response)
        added = Collection.objects.filter(name="mine", images=item).exists()
        if outcome in ("detail", "index") and added:
            outcome = "added"
        assert outcome == expected
        assert added is (expected == "added")
        return

    if action == "share-make":
        response = client.post(reverse("gallery:share_image", args=[item.public_id]), {})
        outcome = _redirect_or_status(response)
        made = ShareLink.objects.filter(generation=item).exists()
        if outcome == "200" and made:
            outcome = "made"
        assert outcome == expected
        assert made is (expected == "made")
        return

    if action == "admin":
        response = client.get(reverse("admin:gallery_generation_change", args=[item.pk]))
        outcome = _redirect_or_status(response)
        assert outcome == expected
        if expected == "200":
            assert item.thumbnail_2x_url in response.content.decode()
        return

    raise AssertionError(f"no such action: {action}")


def _redirect_or_status(response) -> str:
    if response.status_code != 302:
        return str(response.status_code)
    location = response["Location"]
    if location.startswith(reverse("admin:login")):
        return "admin-login"
    if location.startswith(reverse("login")):
        return "login"
    if location == reverse("gallery:index"):
        return "index"
    if location.startswith("/g/"):
        return "detail"
    return f"302 {location}"


def test_the_matrix_covers_every_cell():
    cells = {(a, s, u) for a, s, u, _ in _cells()}
    actions = {a for a, _, _, _ in _cells()}
    assert len(cells) == len(_cells()) == len(actions) * len(STATES) * len(USERS) == 304


@pytest.mark.parametrize(
    "action", ["listing", "detail", "original", "thumbnail", "download", "verify"]
)
def test_without_anonymous_browsing_visitors_see_no_public_image(action, files, people):
    from core.models import SiteSettings

    SiteSettings.objects.update_or_create(pk=1, defaults={"anonymous_browsing": False})
    item = _image(files, people["owner"])
    client = Client()
    if action == "listing":
        assert item.get_absolute_url() not in client.get("/").content.decode()
        return
    if action == "verify":
        for linked in (False, True):  # the visitor, then the same image for a signed-in user
            upload = SimpleUploadedFile("a.jpg", files["original"][1], content_type="image/jpeg")
            page = client.post("/verify", {"image": upload}).content.decode()
            assert (item.get_absolute_url() in page) is linked
            client.force_login(people["other"])
        return
    url = {
        "detail": item.get_absolute_url(),
        "original": item.original_url,
        "thumbnail": item.thumbnail_url,
        "download": item.original_url + "?download=1",
    }[action]
    assert client.get(url).status_code == 404
    # ...and the same image for a signed-in user:
    client.force_login(people["other"])
    assert client.get(url).status_code == 200


# --- Collections and share links themselves -------------------------------------------------

COLLECTION_MATRIX = """
action     kind      anonymous  other  owner  staff
open       public    200        200    200    200
open       private   404        404    200    200
edit       public    login      404    302    302
edit       private   login      404    302    302
share      public    login      404    200    404
share      private   login      404    200    404
links      public    login      200    200    200
"""


def _collection_cells() -> list[tuple[str, str, str, str]]:
    rows = [line.split() for line in COLLECTION_MATRIX.strip().splitlines()]
    return [(action, kind, user, outcome) for action, kind, *outcomes in rows[1:]
            for user, outcome in zip(USERS, outcomes, strict=True)]  # fmt: skip


@pytest.mark.parametrize(("action", "kind", "user", "expected"), _collection_cells())
def test_collection_matrix(action, kind, user, expected, people):
    """Who may open, change and share a collection; `links` is one's own list of links
    (everyone signed in has one, showing only their own)."""
    album = collections.create(people["owner"], "album", visibility=kind)
    theirs = sharing.create(people["owner"], album)
    client = Client()
    if people[user]:
        client.force_login(people[user])
    if action == "open":
        response = client.get(album.get_absolute_url())
    elif action == "edit":
        url = reverse("gallery:collection_edit", args=[album.public_id])
        response = client.post(url, {"name": "renamed", "visibility": kind})
    elif action == "share":
        response = client.get(reverse("gallery:share_collection", args=[album.public_id]))
    else:
        response = client.get(reverse("gallery:shares"))
    outcome = _redirect_or_status(response)
    if outcome.startswith("302 /c/"):
        outcome = "302"
    assert outcome == expected
    album.refresh_from_db()
    assert (album.name == "renamed") is (action == "edit" and expected == "302")
    if action == "links" and expected == "200":
        assert (theirs.token in response.content.decode()) is (user == "owner")


def test_without_anonymous_browsing_public_collections_are_closed_to_visitors_not_links(
    files, people
):
    from core.models import SiteSettings

    SiteSettings.objects.update_or_create(pk=1, defaults={"anonymous_browsing": False})
    item = _image(files, people["owner"])
    album = collections.create(people["owner"], "album", visibility="public")
    collections.add(people["owner"], album, [item])
    link = sharing.create(people["owner"], album)
    client = Client()
    assert client.get(album.get_absolute_url()).status_code == 404
    # A share link is for people without an account: it opens whatever the setting.
    assert f'id="t-{item.public_id}"' in client.get(link.get_absolute_url()).content.decode()


# --- Staff pages -----------------------------------------------------------------------------

STAFF_PAGES = """
page           anonymous  other  owner  staff
/operations/   login      404    404    200
/moderation/   login      404    404    200
"""


def _staff_cells() -> list[tuple[str, str, str]]:
    rows = [line.split() for line in STAFF_PAGES.strip().splitlines()]
    return [(page, user, outcome) for page, *outcomes in rows[1:]
            for user, outcome in zip(USERS, outcomes, strict=True)]  # fmt: skip


@pytest.mark.parametrize(("page", "user", "expected"), _staff_cells())
def test_staff_pages(page, user, expected, people):
    client = Client()
    if people[user]:
        client.force_login(people[user])
    assert _redirect_or_status(client.get(page)) == expected
