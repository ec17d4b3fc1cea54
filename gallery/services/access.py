"""Who may see and do what. Every view and API asks here; nothing decides access on its own.

The rules, in one place:
- The public gallery is what `Generation.objects.public()` holds: done, public, visible.
  Anonymous visitors see it only when the site allows anonymous browsing.
- Owners always see their own generations, whatever their status, visibility or moderation
  (a hidden or removed one shows them the moderator's reason).
- Staff see everything.
- Managing (retry, delete, change visibility) is for the owner and staff.
- A public image's thumbnails and previews also have a public URL (`/media/<id>/public/...`):
  it serves only while the image is public, to whoever may view it, and a shared cache may
  keep what it serves only while anyone at all may (`files_shareable`). Hiding an image or
  making it private ends that URL at once, its owner included (their pages link the other).
- A signed link (the OpenAI-compatible API's image URLs) opens its one file while the image
  is as it was when the link was made: the same visibility (the signature covers it), its
  files still there, and not held, hidden or removed by a moderator.
- Collections: the owner and staff may open any; anyone allowed to browse may open a public
  one. What a collection shows is each visitor's own `listable` rows among its images, less
  any image a moderator hid or removed (so hiding an image takes it out of every collection
  at once, for everyone). Only the owner (and staff) change a collection; an image can be
  added by someone who may view it.
- Share links open, for anyone holding them, while not revoked and not expired (and once
  the password is given, if there is one). They show what the link's owner may show others
  now: their own images and public ones, done and not held, hidden or removed by a moderator
  (`SHAREABLE`). The files of those images are served to the holder through the link only.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from core.models import SiteSettings
from gallery.models import PUBLIC, Collection, Generation, GenerationQuerySet, ShareLink

AnyUser = User | AnonymousUser


def viewable(user: AnyUser, site: SiteSettings | None = None) -> GenerationQuerySet:
    """Every generation `user` may open, in any status."""
    rows = Generation.objects.all()
    if user.is_staff:
        return rows
    if user.is_authenticated:
        return rows.filter(PUBLIC | Q(owner=user))
    site = site or SiteSettings.load()
    return rows.public() if site.anonymous_browsing else rows.none()


def listable(user: AnyUser, site: SiteSettings | None = None) -> GenerationQuerySet:
    """What the gallery grid may show `user`: viewable rows that have an image."""
    return viewable(user, site).with_image()


def manageable(user: AnyUser) -> GenerationQuerySet:
    """Every generation `user` may retry, delete or change: staff all, others their own."""
    if user.is_staff:
        return Generation.objects.all()
    return own(user)


def viewable_item(user: AnyUser, public_id: str) -> Generation | None:
    """The generation with this public id if `user` may open it (its owner loaded)."""
    return viewable(user).select_related("owner").filter(public_id=public_id).first()


def manageable_item(user: AnyUser, public_id: str) -> Generation | None:
    """The generation with this public id if `user` may manage it (its owner loaded)."""
    return manageable(user).select_related("owner").filter(public_id=public_id).first()


def own(user: AnyUser) -> GenerationQuerySet:
    """The user's own generations, all of which they may see. Asked for directly rather
    than through `viewable`, so that the owner index serves "mine" alone."""
    if not user.is_authenticated:
        return Generation.objects.none()
    return Generation.objects.filter(owner=user)


def can_view(user: AnyUser, generation: Generation) -> bool:
    if user.is_staff or (user.is_authenticated and generation.owner_id == user.pk):
        return True
    return generation.is_public and (
        user.is_authenticated or SiteSettings.load().anonymous_browsing
    )


def can_manage(user: AnyUser, generation: Generation) -> bool:
    """Retry, delete, change visibility: the owner and staff."""
    return user.is_staff or (user.is_authenticated and generation.owner_id == user.pk)


def files_viewable(user: AnyUser, generation: Generation) -> bool:
    """Whether the image files may be served: viewable, and not removed by a moderator."""
    return generation.has_image and can_view(user, generation)


def files_viewable_at_public_url(user: AnyUser, generation: Generation) -> bool:
    """Whether the public URL of one of the image's derivatives may serve it to `user`."""
    return generation.is_public and files_viewable(user, generation)


def files_shareable(generation: Generation) -> bool:
    """Whether anyone at all, signed in or not, may fetch the image's files now (what an
    anonymous visitor may): then web processes may keep them in memory and shared caches
    may keep them."""
    return files_viewable(AnonymousUser(), generation)


def files_open_by_link(generation: Generation) -> bool:
    """Whether a signed link (valid for this visibility) may serve the image's files."""
    return generation.has_image and generation.moderation == Generation.Moderation.VISIBLE


# --- Collections ----------------------------------------------------------------------------


def viewable_collections(user: AnyUser, site: SiteSettings | None = None) -> QuerySet[Collection]:
    """Every collection `user` may open."""
    rows = Collection.objects.all()
    if user.is_staff:
        return rows
    public = Q(visibility="public")
    if user.is_authenticated:
        return rows.filter(public | Q(owner=user))
    site = site or SiteSettings.load()
    return rows.filter(public) if site.anonymous_browsing else rows.none()


def viewable_collection(
    user: AnyUser, public_id: str, site: SiteSettings | None = None
) -> Collection | None:
    """The collection with this public id if `user` may open it (its owner loaded)."""
    rows = viewable_collections(user, site).select_related("owner")
    return rows.filter(public_id=public_id).first()


def collection_open_to_anyone(collection: Collection, site: SiteSettings | None = None) -> bool:
    """Whether an anonymous visitor may open the collection (then it may have a preview)."""
    return collection.visibility == "public" and (site or SiteSettings.load()).anonymous_browsing


def manageable_collection(user: AnyUser, public_id: str) -> Collection | None:
    """The collection if `user` may change it: its owner, or staff."""
    rows = Collection.objects.select_related("owner").filter(public_id=public_id)
    if not user.is_staff:
        rows = rows.filter(owner=user) if user.is_authenticated else rows.none()
    return rows.first()


def own_collections(user: AnyUser) -> QuerySet[Collection]:
    """The collections `user` may add images to: their own."""
    if not user.is_authenticated:
        return Collection.objects.none()
    return Collection.objects.filter(owner=user)


def can_manage_collection(user: AnyUser, collection: Collection) -> bool:
    return user.is_staff or (user.is_authenticated and collection.owner_id == user.pk)


def can_collect(user: AnyUser, generation: Generation) -> bool:
    """Whether `user` may put this image into one of their collections."""
    return user.is_authenticated and files_viewable(user, generation)


# Taken out of every collection and share link, whoever looks: a moderator's decision.
MODERATED_AWAY = Q(moderation__in=("hidden", "removed"))


def collection_images(
    user: AnyUser, collection: Collection, site: SiteSettings | None = None
) -> GenerationQuerySet:
    """The images of `collection` that `user` may see in it."""
    return (
        listable(user, site).filter(collection_items__collection=collection).exclude(MODERATED_AWAY)
    )


# --- Share links ----------------------------------------------------------------------------

# What a share link can show of what its owner may show others: done, not moderated away
# (held for review counts as away too, as for signed links), with its files.
SHAREABLE = Q(status="succeeded", moderation="visible")


def shown_by_link_owner(owner_id: int | None) -> Q:
    """What the owner of a link may show people without an account: their own images and
    public ones, never someone else's private image (not even a staff member's link)."""
    return PUBLIC | Q(owner_id=owner_id)


def can_share(user: AnyUser, generation: Generation) -> bool:
    """Whether `user` may make a share link for this image: their own, with an image."""
    return (
        user.is_authenticated and generation.owner_id == user.pk and files_open_by_link(generation)
    )


def can_share_collection(user: AnyUser, collection: Collection) -> bool:
    """Whether `user` may make a share link for this collection: its owner only."""
    return user.is_authenticated and collection.owner_id == user.pk


def share_images(link: ShareLink) -> GenerationQuerySet:
    """What an open link shows its holder; nothing once it is revoked or expired."""
    if not link.is_open():
        return Generation.objects.none()
    rows = Generation.objects.filter(SHAREABLE, shown_by_link_owner(link.owner_id))
    if link.generation_id is not None:
        return rows.filter(pk=link.generation_id)
    return rows.filter(collection_items__collection=link.collection)


def shared_image(link: ShareLink, public_id: str) -> Generation | None:
    """One image of an open link, by public id, or None."""
    return share_images(link).filter(public_id=public_id).first()
