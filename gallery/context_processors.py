from django.conf import settings
from django.http import HttpRequest


def endpoint(request: HttpRequest) -> dict:
    """Whether images come from the offline stand-in, so every page can say so."""
    return {"using_standin": settings.GALLERY_STANDIN}
