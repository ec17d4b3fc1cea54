"""What happens to a deleted account's images, by the site's policy. Called by accounts'
`account_deleting` signal inside the transaction that deletes the user (see apps.py)."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from core.models import SiteSettings
from gallery.models import Generation
from gallery.services import storage

logger = logging.getLogger(__name__)


def settle_images(user: User) -> None:
    """Delete or keep `user`'s generations, by the site's account-deletion policy:

    - delete: every generation of theirs, files included;
    - anonymise: finished public images stay, without an owner; everything else (private
      images nobody else could see, work in progress, failures) is deleted.

    Files are deleted once the transaction has committed."""
    policy = SiteSettings.load().account_deletion
    rows = Generation.objects.filter(owner=user)
    if policy == SiteSettings.AccountDeletion.ANONYMISE_IMAGES:
        kept = rows.filter(
            status=Generation.Status.SUCCEEDED, visibility=Generation.Visibility.PUBLIC
        )
        doomed = rows.exclude(pk__in=kept.values("pk"))
    elif policy == SiteSettings.AccountDeletion.DELETE_IMAGES:
        kept, doomed = rows.none(), rows
    else:
        raise ValidationError(f"Unknown account deletion policy: {policy!r}")
    deleted = storage.delete_many(doomed)
    anonymised = kept.update(owner=None)
    logger.info(
        "Account %s leaving: %s images deleted, %s kept anonymised", user.pk, deleted, anonymised
    )


def on_account_deleting(sender, *, user: User, **kwargs) -> None:
    settle_images(user)
