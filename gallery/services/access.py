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
"""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q

from core.models import SiteSettings
from gallery.models import PUBLIC, Generation, GenerationQuerySet

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
