"""Share links: an unguessable link to one image or one collection, for people without an
account. What a link shows is decided by `access.share_images`; this module makes, opens,
checks and revokes links."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gallery.models import Collection, Generation, ShareLink
from gallery.services import access

# What the owner may choose for a link's life (days); None: until revoked.
EXPIRY_CHOICES = (None, 1, 7, 30)
PASSWORD_MAX = 128
REFUSED = gettext_lazy("Wrong password.")  # translated when shown


def create(
    owner: User,
    target: Generation | Collection,
    *,
    expires_in_days: int | None = None,
    password: str = "",
    hide_prompts: bool = False,
) -> ShareLink:
    """A new link to `target`, which `owner` must own (an image also must have its files and
    not be held, hidden or removed by a moderator)."""
    if expires_in_days is not None and expires_in_days not in EXPIRY_CHOICES:
        raise ValidationError(_("Choose how long the link works."))
    if len(password) > PASSWORD_MAX:
        message = _("A password is at most %(most)s characters.")
        raise ValidationError(message % {"most": PASSWORD_MAX})
    link = ShareLink(owner=owner, hide_prompts=hide_prompts)
    if isinstance(target, Generation):
        if not access.can_share(owner, target):
            raise PermissionDenied
        link.generation = target
    else:
        if not access.can_share_collection(owner, target):
            raise PermissionDenied
        link.collection = target
    if expires_in_days:
        link.expires_at = timezone.now() + dt.timedelta(days=expires_in_days)
    # Django's password hasher (PBKDF2 with a salt): a leaked table gives no passwords.
    link.password = make_password(password) if password else ""
    link.save()
    return link


def links_of(owner: User) -> QuerySet[ShareLink]:
    """Every link `owner` made, newest first, with what each points at."""
    return ShareLink.objects.filter(owner=owner).select_related("generation", "collection")


def links_to(owner: User, target: Generation | Collection) -> QuerySet[ShareLink]:
    field = "generation" if isinstance(target, Generation) else "collection"
    return links_of(owner).filter(**{field: target})


def revoke(user: User, token: str) -> bool:
    """End one of `user`'s links now; False when they have no such open link."""
    return bool(
        ShareLink.objects.filter(owner=user, token=token, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def open_link(token: str) -> ShareLink | None:
    """The link with this token while it opens (not revoked, not expired), else None: an
    expired, revoked and unknown link answer alike."""
    if not token or len(token) > 64:
        return None
    link = (
        ShareLink.objects.select_related("generation", "collection", "owner")
        .filter(token=token)
        .first()
    )
    return link if link is not None and link.is_open() else None


def password_ok(link: ShareLink, password: str) -> bool:
    return bool(link.password) and check_password(password[:PASSWORD_MAX], link.password)


def unlock_key(link: ShareLink) -> str:
    """What a holder's session keeps once they gave the password: tied to this link and
    its hash, so a key for one link never opens another."""
    return f"share:{link.pk}:{link.password[-16:]}"
