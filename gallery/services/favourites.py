"""Stars: a user marks images they like. Only images the user may see can be starred."""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from gallery.models import Favourite, Generation
from gallery.services import access


def toggle(user: access.AnyUser, generation: Generation) -> bool:
    """Star or unstar; returns whether it is starred now. PermissionDenied when the user is
    not signed in or may not see the image."""
    if not user.is_authenticated or not access.can_view(user, generation):
        raise PermissionDenied
    deleted, _ = Favourite.objects.filter(user=user, generation=generation).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(user=user, generation=generation)
    except IntegrityError:
        pass  # a double click raced us to it: starred either way
    return True


def starred_ids(user: access.AnyUser, generations: Iterable[Generation]) -> set[int]:
    """Which of these generations `user` starred: one query for a whole page."""
    if not user.is_authenticated:
        return set()
    ids = [g.pk for g in generations]
    if not ids:
        return set()
    return set(
        Favourite.objects.filter(user=user, generation_id__in=ids).values_list(
            "generation_id", flat=True
        )
    )


def is_starred(user: access.AnyUser, generation: Generation) -> bool:
    return generation.pk in starred_ids(user, [generation])
