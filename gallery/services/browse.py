"""Read side of the gallery: what a page shows, keyset-paginated.

Pages are cut on the primary key (newest first), never with OFFSET or COUNT(*): the cost of a
page does not grow with the table, and rows added while someone scrolls never shift a page.
"""

from dataclasses import dataclass

from django.conf import settings

from gallery.models import Generation
from gallery.services import access


@dataclass(frozen=True)
class GalleryPage:
    items: list[Generation]
    next_cursor: int | None  # pass as `before` to get the next (older) page


def parse_cursor(value: str | None) -> int | None:
    """A cursor from a URL, or None when missing or malformed (then: the first page)."""
    if value and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def gallery_page(
    user: access.AnyUser, before: int | None = None, page_size: int | None = None
) -> GalleryPage:
    page_size = page_size or settings.GALLERY_PAGE_SIZE
    rows = access.listable(user).order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    rows = list(
        rows.only(
            "id",
            "public_id",
            "prompt",
            "status",
            "thumbnail",
            "thumbnail_2x",
            "width",
            "height",
            "placeholder_color",
        )[: page_size + 1]
    )
    has_more = len(rows) > page_size
    items = rows[:page_size]
    return GalleryPage(items=items, next_cursor=items[-1].id if has_more else None)
