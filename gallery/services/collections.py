"""Collections: a user's named sets of images. Who may open, change or fill one is asked of
`access`; this module keeps the rules of what a collection holds and how it is paged."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from core.models import SiteSettings
from gallery.models import Collection, CollectionItem, Generation
from gallery.services import access, pagination
from gallery.services.browse import TILE_FIELDS

# A collection holds at most this many images: enough for any album, and a bound on what a
# bulk add or a share link can reach.
MAX_ITEMS = 10_000
NAME_MAX = Collection._meta.get_field("name").max_length


def create(
    owner: User, name: str, description: str = "", visibility: str = "private"
) -> Collection:
    """A new collection of `owner`'s. ValidationError on a blank name or an unknown visibility."""
    collection = Collection(
        owner=owner, name=name, description=description.strip(), visibility=visibility
    )
    collection.full_clean()
    collection.save()
    return collection


def update(collection: Collection, *, name: str, description: str, visibility: str) -> Collection:
    collection.name, collection.description = name, description.strip()
    collection.visibility = visibility
    collection.full_clean()
    collection.save()
    return collection


def add(user: access.AnyUser, collection: Collection, images: Iterable[Generation]) -> int:
    """Put the images `user` may view into `collection` (which `user` must manage); returns
    how many were added (already there, or not viewable: skipped)."""
    if not access.can_manage_collection(user, collection):
        raise PermissionDenied
    wanted = [g for g in images if access.can_collect(user, g)]
    if not wanted:
        return 0
    with transaction.atomic():
        have = collection.items.count()
        present = set(
            collection.items.filter(generation__in=wanted).values_list("generation_id", flat=True)
        )
        new = [g for g in wanted if g.pk not in present]
        if have + len(new) > MAX_ITEMS:
            message = _("A collection holds at most %(most)s images.")
            raise ValidationError(message % {"most": number_format(MAX_ITEMS, force_grouping=True)})
        try:
            with transaction.atomic():
                CollectionItem.objects.bulk_create(
                    [CollectionItem(collection=collection, generation=g) for g in new],
                    ignore_conflicts=True,  # a double click raced us to it: added either way
                )
        except IntegrityError:  # pragma: no cover (ignore_conflicts covers the unique pair)
            pass
        collection.save(update_fields=["updated_at"])
    return len(new)


def remove(user: access.AnyUser, collection: Collection, public_ids: Iterable[str]) -> int:
    """Take images out of `collection` (by public id); returns how many were removed."""
    if not access.can_manage_collection(user, collection):
        raise PermissionDenied
    wanted = {str(p) for p in public_ids if p}
    removed, _by_model = collection.items.filter(generation__public_id__in=wanted).delete()
    if removed:
        if collection.cover is not None and collection.cover.public_id in wanted:
            collection.cover = None
        collection.save(update_fields=["cover", "updated_at"])
    return removed


def set_cover(user: access.AnyUser, collection: Collection, public_id: str) -> bool:
    """Make one of the collection's images its cover; False when it is not in it."""
    if not access.can_manage_collection(user, collection):
        raise PermissionDenied
    item = collection.images.filter(public_id=public_id).first()
    if item is None:
        return False
    collection.cover = item
    collection.save(update_fields=["cover", "updated_at"])
    return True


# A tile, and what a cover needs besides (its preview, for link previews).
COVER_FIELDS = (*TILE_FIELDS, "preview_image", "prompt")


def page(
    user: access.AnyUser,
    collection: Collection,
    before: int | None = None,
    page_size: int | None = None,
    site: SiteSettings | None = None,
) -> pagination.Page[Generation]:
    """One keyset page of what `user` may see in `collection`, newest image first: one
    query, whatever the collection's or the table's size."""
    rows = newest_first(access.collection_images(user, collection, site))
    if before is not None:
        rows = rows.filter(id__lt=before)
    return pagination.cut(rows.only(*COVER_FIELDS), page_size or settings.GALLERY_PAGE_SIZE)


def newest_first(rows: QuerySet[Generation]) -> QuerySet[Generation]:
    """A collection's images (rows joined to its items), newest first, ordered on the item's
    copy of the image id: the same order, but SQLite then walks the items' (collection,
    image) index and stops after a page, instead of reading and sorting every item of the
    collection (measured at 10,000 items: 0.3 ms instead of 5 ms a page; the cursor's
    `id < n` reaches the index too)."""
    return rows.order_by("-collection_items__generation_id")


def cover(
    user: access.AnyUser,
    collection: Collection,
    first_page: pagination.Page[Generation] | None = None,
    site: SiteSettings | None = None,
) -> Generation | None:
    """What `user` sees as the cover: the chosen one if they may see it, else the newest
    (read from `first_page` when given, so the collection's page pays no query for it)."""
    rows = access.collection_images(user, collection, site).only(*COVER_FIELDS)
    if collection.cover_id is not None:
        if first_page is not None:
            for item in first_page.items:
                if item.pk == collection.cover_id:
                    return item
        chosen = rows.filter(pk=collection.cover_id).first()
        if chosen is not None:
            return chosen
    if first_page is not None:
        return first_page.items[0] if first_page.items else None
    return newest_first(rows).first()


def covers(user: access.AnyUser, collections: Iterable[Collection]) -> dict[int, Generation]:
    """The cover each collection shows `user` (a query per collection: lists are short)."""
    found = {}
    for collection in collections:
        item = cover(user, collection)
        if item is not None:
            found[collection.pk] = item
    return found


def containing(user: access.AnyUser, generation: Generation) -> set[int]:
    """Which of `user`'s own collections hold this image."""
    return set(
        access.own_collections(user)
        .filter(items__generation=generation)
        .values_list("pk", flat=True)
    )
