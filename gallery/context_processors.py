from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from gallery.services import access, quotas


def gallery(request: HttpRequest) -> dict:
    """What every page may show: whether images come from the offline stand-in, the
    user's quota and how many images they own (lazy: a page that shows neither pays no
    query)."""
    user = request.user
    return {
        "using_standin": settings.GALLERY_STANDIN,
        "quota": SimpleLazyObject(lambda: quotas.quota_status(user)),
        "own_image_count": SimpleLazyObject(lambda: access.own(user).count()),
    }
