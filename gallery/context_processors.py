from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from gallery.services import quotas


def gallery(request: HttpRequest) -> dict:
    """What every page may show: whether images come from the offline stand-in, and the
    user's quota (lazy: a page that does not show it pays no query)."""
    user = request.user
    return {
        "using_standin": settings.GALLERY_STANDIN,
        "quota": SimpleLazyObject(lambda: quotas.quota_status(user)),
    }
