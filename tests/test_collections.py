"""Collections and share links, as their users meet them: making a collection, filling it
from an image's page and from My history, paging it, who sees what in it; making, opening,
locking and revoking share links, and the link previews of what is public."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery.models import Collection, Generation, ShareLink
from gallery.services import collections, moderation, sharing
from tests.conftest import content_of
from tests.factories import make_done, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]


def _collection(owner, name="Lighthouses", visibility="private", images=()) -> Collection:
    made = collections.create(owner, name, visibility=visibility)
    collections.add(owner, made, list(images))
    return made


def _shown(page) -> list[str]:
    """The public ids of the tiles on a grid page."""
    return re.findall(r'id="t-([a-z0-9]+)"', page.content.decode())


# --- Collections ----------------------------------------------------------------------------


def test_a_user_makes_a_collection_and_finds_it_in_their_list(owner):
    client = signed_in(owner)
    response = client.post(
        reverse("gallery:collections"),
        {"name": "  Sea   and ships ", "description": "Boats", "visibility": "public"},
    )
    made = Collection.objects.get()
    assert response.status_code == 302 and response["Location"] == made.get_absolute_url()
    assert (made.name, made.owner, made.visibility) == ("Sea and ships", owner, "public")
    page = client.get(reverse("gallery:collections")).content.decode()
    assert "Sea and ships" in page and made.get_absolute_url() in page


def test_a_collection_needs_a_name(owner):
    response = signed_in(owner).post(reverse("gallery:collections"), {"name": "   "})
    assert response.status_code == 400
    assert not Collection.objects.exists()


def test_visitors_are_sent_to_sign_in_for_the_collections_list(visitor):
    response = visitor.get(reverse("gallery:collections"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_adding_and_removing_from_the_detail_page_picker(owner):
    image = make_done("a red fox", owner=owner)
    box = _collection(owner)
    client = signed_in(owner)
    detail = client.get(image.get_absolute_url()).content.decode()
    assert reverse("gallery:collect", args=[image.public_id]) in detail
    # htmx: the picker swaps itself, ticked now.
    url = reverse("gallery:collect", args=[image.public_id])
    picker = client.post(url, {"collection": box.public_id}, headers={"HX-Request": "true"})
    assert picker.status_code == 200
    assert "Added to “Lighthouses”" in picker.content.decode()
    assert 'aria-pressed="true"' in picker.content.decode()
    assert list(box.images.all()) == [image]
    # Without JavaScript: a redirect back, and the image leaves the collection.
    response = client.post(
        url, {"collection": box.public_id, "action": "remove", "next": image.get_absolute_url()}
    )
    assert response.status_code == 302 and response["Location"] == image.get_absolute_url()
    assert not box.images.exists()


def test_the_picker_makes_a_new_collection_with_the_image_in_it(owner):
    image = make_done(owner=owner)
    client = signed_in(owner)
    url = reverse("gallery:collect", args=[image.public_id])
    client.post(url, {"action": "new", "name": "Favourites"}, headers={"HX-Request": "true"})
    made = Collection.objects.get(owner=owner)
    assert made.name == "Favourites" and list(made.images.all()) == [image]


def test_one_cannot_add_to_someone_elses_collection_or_add_an_image_one_cannot_see(
    owner, other_user
):
    mine = make_done(owner=owner)
    secret = make_done(owner=other_user, visibility="private")
    theirs = _collection(other_user)
    client = signed_in(owner)
    url = reverse("gallery:collect", args=[mine.public_id])
    assert client.post(url, {"collection": theirs.public_id}).status_code == 404
    assert not theirs.images.exists()
    assert client.get(reverse("gallery:collect", args=[secret.public_id])).status_code == 404


def test_my_history_adds_the_selection_to_a_collection(owner, other_user):
    a, b = make_done("a", owner=owner), make_done("b", owner=owner)
    foreign = make_done("c", owner=other_user)
    box = _collection(owner)
    client = signed_in(owner)
    assert box.name in client.get(reverse("gallery:history")).content.decode()
    response = client.post(
        reverse("gallery:history_bulk"),
        {"action": "collect", "collection": box.public_id,
         "ids": [a.public_id, b.public_id, foreign.public_id]},
        follow=True,
    )  # fmt: skip
    assert "Added 2 images to “Lighthouses”" in response.content.decode()
    assert set(box.images.all()) == {a, b}


def test_a_collection_is_its_own_keyset_paged_grid_with_a_cover(owner, settings):
    settings.GALLERY_PAGE_SIZE = 2
    images = [make_done(f"image {n}", owner=owner) for n in range(5)]
    box = _collection(owner, images=images)
    client = signed_in(owner)
    seen, url = [], box.get_absolute_url()
    first = client.get(url)
    assert "collection-cover" in first.content.decode()
    while url:
        page = client.get(url)
        seen += _shown(page)
        more = re.search(r'href="(\?before=\d+)"', page.content.decode())
        url = box.get_absolute_url() + more.group(1) if more else ""
    assert seen == [g.public_id for g in reversed(images)]
    # htmx's infinite scroll asks for the next page only.
    partial = client.get(
        box.get_absolute_url() + f"?before={images[3].id}", headers={"HX-Request": "true"}
    )
    assert "<html" not in partial.content.decode() and _shown(partial) == [
        images[2].public_id,
        images[1].public_id,
    ]


def test_the_owner_chooses_the_cover_and_removes_images(owner):
    a, b = make_done("a", owner=owner), make_done("b", owner=owner)
    box = _collection(owner, images=[a, b])
    client = signed_in(owner)
    assert collections.cover(owner, box) == b  # the newest, until one is chosen
    client.post(reverse("gallery:collection_cover", args=[box.public_id]), {"id": a.public_id})
    box.refresh_from_db()
    assert box.cover == a and collections.cover(owner, box) == a
    client.post(reverse("gallery:collection_remove", args=[box.public_id]), {"ids": a.public_id})
    box.refresh_from_db()
    assert box.cover is None and list(box.images.all()) == [b]


def test_a_collection_shows_each_visitor_only_what_they_may_see(owner, other_user, visitor):
    public = make_done("public one", owner=owner)
    private = make_done("private one", owner=owner, visibility="private")
    box = _collection(owner, visibility="public", images=[public, private])
    assert _shown(signed_in(owner).get(box.get_absolute_url())) == [
        private.public_id,
        public.public_id,
    ]
    assert _shown(signed_in(other_user).get(box.get_absolute_url())) == [public.public_id]
    assert _shown(visitor.get(box.get_absolute_url())) == [public.public_id]
    # A private collection is not there at all for anyone else.
    box.visibility = "private"
    box.save()
    assert visitor.get(box.get_absolute_url()).status_code == 404
    assert signed_in(other_user).get(box.get_absolute_url()).status_code == 404


def test_an_image_staff_hide_or_remove_leaves_every_collection_at_once(
    owner, other_user, moderator, visitor
):
    keep = make_done("keep", owner=owner)
    hide = make_done("hide", owner=owner)
    gone = make_done("gone", owner=other_user)
    boxes = [
        _collection(owner, "one", "public", [keep, hide, gone]),
        _collection(other_user, "two", "public", [hide, gone]),
    ]
    moderation.hide(hide, actor=moderator, reason="spam")
    moderation.remove(gone, actor=moderator, reason="illegal")
    for box in boxes:
        for client in (visitor, signed_in(owner), signed_in(other_user), signed_in(moderator)):
            shown = _shown(client.get(box.get_absolute_url()))
            assert hide.public_id not in shown and gone.public_id not in shown
    assert _shown(visitor.get(boxes[0].get_absolute_url())) == [keep.public_id]


def test_deleting_a_collection_keeps_its_images(owner):
    image = make_done(owner=owner)
    box = _collection(owner, images=[image])
    response = signed_in(owner).post(reverse("gallery:collection_delete", args=[box.public_id]))
    assert response.status_code == 302
    assert not Collection.objects.exists() and Generation.objects.filter(pk=image.pk).exists()


def test_only_the_owner_edits_or_deletes_a_public_collection(owner, other_user):
    box = _collection(owner, visibility="public")
    client = signed_in(other_user)
    for name in ("collection_edit", "collection_delete", "collection_remove"):
        url = reverse(f"gallery:{name}", args=[box.public_id])
        assert client.post(url, {"name": "Mine now", "visibility": "public"}).status_code == 404
    box.refresh_from_db()
    assert box.name == "Lighthouses"


# --- Share links ----------------------------------------------------------------------------


def _share(client, target, **form):
    """Make a link through the share page; returns its URL path."""
    name = "share_image" if isinstance(target, Generation) else "share_collection"
    response = client.post(reverse(f"gallery:{name}", args=[target.public_id]), form)
    assert response.status_code == 200, response.content.decode()[:500]
    url = re.search(r'data-testid="share-url">([^<]+)<', response.content.decode()).group(1)
    return url.replace("http://testserver", "")


def _tile_files(page: str) -> list[str]:
    return re.findall(r'src="(/s/[^"]+)"', page)


def test_a_private_image_shared_by_link_opens_for_anyone_with_its_files(finished, owner, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    finished.refresh_from_db()
    link = _share(signed_in(owner), finished)
    assert len(link.split("/")[2]) >= 40  # an unguessable token
    page = client.get(link)
    assert page.status_code == 200
    assert "a quiet harbour" in page.content.decode()
    files = _tile_files(page.content.decode())
    assert files and all(client.get(f).status_code == 200 for f in files)
    original = client.get(link + f"f/{finished.public_id}/{finished.original.name.split('/')[-1]}")
    assert original.status_code == 200 and content_of(original)
    # The image's own page and media stay private.
    assert client.get(finished.get_absolute_url()).status_code == 404
    assert client.get(finished.preview_url).status_code == 404


def test_revoking_a_link_ends_its_page_and_files_at_once(finished, owner, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    owner_client = signed_in(owner)
    link = _share(owner_client, finished)
    files = _tile_files(client.get(link).content.decode())
    token = link.split("/")[2]
    listed = owner_client.get(reverse("gallery:shares")).content.decode()
    assert token in listed and "Active" in listed
    owner_client.post(reverse("gallery:share_revoke", args=[token]))
    gone = client.get(link)
    assert gone.status_code == 404 and "a quiet harbour" not in gone.content.decode()
    assert all(client.get(f).status_code == 404 for f in files)
    assert "Revoked" in owner_client.get(reverse("gallery:shares")).content.decode()


def test_someone_else_cannot_revoke_a_link(finished, owner, other_user, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    link = _share(signed_in(owner), finished)
    signed_in(other_user).post(reverse("gallery:share_revoke", args=[link.split("/")[2]]))
    assert client.get(link).status_code == 200


def test_an_expired_link_opens_nothing(finished, owner, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    link = _share(signed_in(owner), finished, expires="1")
    files = _tile_files(client.get(link).content.decode())
    ShareLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(link).status_code == 404
    assert all(client.get(f).status_code == 404 for f in files)


def test_a_wrong_password_says_so_and_nothing_else(finished, owner, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    link = _share(signed_in(owner), finished, password="open sesame")
    stored = ShareLink.objects.get().password
    assert "open sesame" not in stored and "$" in stored  # hashed, salted
    locked = client.get(link)
    assert locked.status_code == 200 and "needs a password" in locked.content.decode()
    wrong = client.post(link, {"password": "nope"})
    body = wrong.content.decode()
    assert wrong.status_code == 403 and "Wrong password." in body
    assert "a quiet harbour" not in body and finished.public_id not in body
    assert "og:image" not in body and not _tile_files(body)
    # The files stay shut until the password is given.
    file_url = link + f"f/{finished.public_id}/{finished.preview_image.name.split('/')[-1]}"
    assert client.get(file_url).status_code == 404
    right = client.post(link, {"password": "open sesame"}, follow=True)
    assert "a quiet harbour" in right.content.decode()
    assert client.get(file_url).status_code == 200


def test_hidden_prompts_stay_hidden_and_the_original_is_not_offered(finished, owner, client):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    link = _share(signed_in(owner), finished, hide_prompts="on")
    page = client.get(link).content.decode()
    assert "a quiet harbour" not in page
    assert "Download original" not in page
    original = link + f"f/{finished.public_id}/{finished.original.name.split('/')[-1]}"
    assert client.get(original).status_code == 404
    assert all(client.get(f).status_code == 200 for f in _tile_files(page))


def test_a_shared_collection_shows_the_owners_and_public_images_never_hidden_ones(
    owner, other_user, moderator, visitor
):
    mine_private = make_done("mine private", owner=owner, visibility="private")
    public = make_done("theirs public", owner=other_user)
    hidden = make_done("hidden later", owner=owner)
    box = _collection(owner, images=[mine_private, public, hidden])
    link = sharing.create(owner, box)
    assert set(_shown(visitor.get(link.get_absolute_url()))) == {
        mine_private.public_id,
        public.public_id,
        hidden.public_id,
    }
    moderation.hide(hidden, actor=moderator, reason="spam")
    Generation.objects.filter(pk=public.pk).update(visibility="private")  # its owner's choice
    assert _shown(visitor.get(link.get_absolute_url())) == [mine_private.public_id]
    # One image of it, on its own page inside the link; not an image outside it.
    item = reverse("gallery:share_item", args=[link.token, mine_private.public_id])
    assert "mine private" in visitor.get(item).content.decode()
    outside = reverse("gallery:share_item", args=[link.token, public.public_id])
    assert visitor.get(outside).status_code == 404


def test_staff_cannot_share_someone_elses_private_image_through_a_collection(
    owner, moderator, visitor
):
    private = make_done("owner's secret", owner=owner, visibility="private")
    box = _collection(moderator, images=[private])  # staff may view it, so may collect it
    link = sharing.create(moderator, box)
    assert _shown(visitor.get(link.get_absolute_url())) == []
    # ...and cannot make a link to it directly either.
    url = reverse("gallery:share_image", args=[private.public_id])
    assert signed_in(moderator).get(url).status_code == 404


def test_only_an_images_owner_may_share_it(owner, other_user):
    image = make_done(owner=owner)
    assert (
        signed_in(other_user)
        .get(reverse("gallery:share_image", args=[image.public_id]))
        .status_code
        == 404
    )


def test_opening_links_is_rate_limited_per_address(owner, settings, visitor, fixed_clock):
    settings.GALLERY_IP_RATES = {**settings.GALLERY_IP_RATES, "share": "3/m"}
    image = make_done(owner=owner)
    link = sharing.create(owner, image).get_absolute_url()
    assert [visitor.get(link).status_code for _ in range(3)] == [200, 200, 200]
    limited = visitor.get(link)
    assert limited.status_code == 429 and "Retry-After" in limited
    # Unknown tokens count too: guessing is limited like opening.
    assert visitor.get(reverse("gallery:share", args=["x" * 43])).status_code == 429


def test_wrong_passwords_are_rate_limited(owner, settings, visitor, fixed_clock):
    settings.GALLERY_IP_RATES = {**settings.GALLERY_IP_RATES, "share_password": "2/5m"}
    link = sharing.create(owner, make_done(owner=owner), password="pw").get_absolute_url()
    codes = [visitor.post(link, {"password": "guess"}).status_code for _ in range(3)]
    assert codes == [403, 403, 429]


# --- Link previews --------------------------------------------------------------------------


def _meta(page, prop: str) -> str | None:
    found = re.search(
        rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)"', page.content.decode()
    )
    return found.group(1) if found else None


def test_a_public_image_page_carries_opengraph_and_twitter_tags(finished, client):
    page = client.get(finished.get_absolute_url())
    assert _meta(page, "og:title") == "a quiet harbour"
    assert _meta(page, "og:image") == "http://testserver" + finished.preview_url
    assert "/public/" in _meta(page, "og:image")
    assert _meta(page, "og:image:width") == "1024"
    assert _meta(page, "twitter:card") == "summary_large_image"


def test_private_content_never_appears_in_link_previews(finished, owner):
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    finished.refresh_from_db()
    client = signed_in(owner)
    assert _meta(client.get(finished.get_absolute_url()), "og:title") is None
    private_box = _collection(owner, "Secret album", images=[finished])
    assert _meta(client.get(private_box.get_absolute_url()), "og:title") is None
    link = sharing.create(owner, finished).get_absolute_url()
    shared = client.get(link)
    assert _meta(shared, "og:title") == "Shared on SDXL Gallery"
    assert _meta(shared, "og:image") is None
    assert "a quiet harbour" not in re.sub(r"<body.*", "", shared.content.decode(), flags=re.S)


def test_a_public_collection_and_a_share_of_a_public_image_have_a_picture(finished, owner):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    finished.refresh_from_db()
    box = _collection(owner, "Harbours", "public", [finished])
    page = signed_in(owner).get(box.get_absolute_url())
    assert _meta(page, "og:title") == "Harbours"
    assert _meta(page, "og:image").endswith(finished.preview_url)
    hidden_prompt = sharing.create(owner, finished, hide_prompts=True).get_absolute_url()
    shared = signed_in(owner).get(hidden_prompt)
    assert _meta(shared, "og:image") and _meta(shared, "og:title") == "Shared on SDXL Gallery"
    assert "harbour" not in (_meta(shared, "og:image:alt") or "")


# --- Admin ----------------------------------------------------------------------------------


def test_staff_see_collections_and_revoke_links_in_the_admin(admin_client, owner, visitor):
    image = make_done(owner=owner)
    box = _collection(owner, "Album", images=[image])
    link = sharing.create(owner, image, password="secret")
    for name in ("gallery_collection_changelist", "gallery_sharelink_changelist"):
        page = admin_client.get(reverse(f"admin:{name}"))
        assert page.status_code == 200
    assert (
        "Album"
        in admin_client.get(
            reverse("admin:gallery_collection_change", args=[box.pk])
        ).content.decode()
    )
    change = admin_client.get(reverse("admin:gallery_sharelink_change", args=[link.pk]))
    assert link.password not in change.content.decode()  # never the hash
    admin_client.post(
        reverse("admin:gallery_sharelink_changelist"),
        {"action": "revoke_links", "_selected_action": [link.pk]},
    )
    assert visitor.get(link.get_absolute_url()).status_code == 404
