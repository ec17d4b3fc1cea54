"""Link previews (OpenGraph and Twitter card tags) for public image pages, public collections
and share links. They only ever name what an anonymous visitor could fetch anyway
(`access.files_shareable`): a private image, its prompt or a private collection's name never
appear in them, and a link whose prompts are hidden keeps them hidden."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from core.models import SiteSettings
from gallery.models import Collection, Generation, ShareLink
from gallery.services import access

SITE_NAME = "SDXL Gallery"
TITLE_MAX = 90


def _title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def _image(request: HttpRequest, item: Generation | None) -> dict:
    """The picture's tags, only for an image anyone may fetch (at its public URL)."""
    if item is None or not access.files_shareable(item):
        return {}
    return _picture(request, item)


def _picture(request: HttpRequest, item: Generation) -> dict:
    """The picture's tags, for an image already known to be shareable."""
    return {
        "image": request.build_absolute_uri(item.preview_url),
        # The preview is at most 1024 px on its longest side, in the image's proportions.
        "image_width": min(1024, item.width or 1024),
        "image_height": min(1024, item.height or 1024),
        "image_alt": _title(item.prompt),
    }


def for_image(request: HttpRequest, item: Generation) -> dict | None:
    if not access.files_shareable(item):
        return None
    return {
        "title": _title(item.prompt),
        "description": _("An image made with %(endpoint)s on %(site)s.")
        % {"endpoint": item.endpoint_label or "SDXL", "site": SITE_NAME},
        "url": request.build_absolute_uri(item.get_absolute_url()),
        **_picture(request, item),
    }


def for_collection(
    request: HttpRequest,
    collection: Collection,
    cover: Generation | None,
    site: SiteSettings | None = None,
) -> dict | None:
    if not access.collection_open_to_anyone(collection, site):
        return None
    return {
        "title": _title(collection.name),
        "description": _title(collection.description)
        or _("A collection on %(site)s.") % {"site": SITE_NAME},
        "url": request.build_absolute_uri(collection.get_absolute_url()),
        **_image(request, cover),
    }


def for_share(request: HttpRequest, link: ShareLink, shown: Generation | None) -> dict:
    """A share link's card: the picture and prompt of `shown` (the image, or the
    collection's first) only when they are public anyway and prompts are not hidden."""
    preview: dict = {
        "title": _("Shared on %(site)s") % {"site": SITE_NAME},
        "description": _("An image shared with you.")
        if link.generation_id
        else _("A collection shared with you."),
        "url": request.build_absolute_uri(link.get_absolute_url()),
    }
    if link.has_password or shown is None:
        return preview  # nothing before the password
    if link.collection_id and access.collection_open_to_anyone(link.collection):
        preview["title"] = _title(link.collection.name)
    elif link.generation_id and access.files_shareable(shown) and not link.hide_prompts:
        preview["title"] = _title(shown.prompt)
    image = _image(request, shown)
    if image and link.hide_prompts:
        image["image_alt"] = _("A shared image")
    return {**preview, **image}
