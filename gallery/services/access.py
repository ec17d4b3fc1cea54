"""Who may see and do what. Every view and API asks here; nothing decides access on its own.

The rules, in one place:
- The public gallery is what `Generation.objects.public()` holds: done, public, visible.
  Anonymous visitors see it only when the site allows anonymous browsing.
- Owners always see their own generations, whatever their status, visibility or moderation
  (a hidden or removed one shows them the moderator's reason).
- Staff see everything.
- Managing (retry, delete, change visibility) is for the owner and staff.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q

from gallery.models import PUBLIC, Generation, SiteSettings

AnyUser = User | AnonymousUser


def viewable(user: AnyUser, site: SiteSettings | None = None) -> "Generation.objects":
    """Every generation `user` may open, in any status."""
    rows = Generation.objects.all()
    if user.is_staff:
        return rows
    if user.is_authenticated:
        return rows.filter(PUBLIC | Q(owner=user))
    site = site or SiteSettings.load()
    return rows.public() if site.anonymous_browsing else rows.none()


def listable(user: AnyUser, site: SiteSettings | None = None) -> "Generation.objects":
    """What the gallery grid may show `user`: viewable rows that have an image."""
    return viewable(user, site).with_image()


def own(user: AnyUser) -> "Generation.objects":
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
