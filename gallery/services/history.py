"""A user's own generations, in every status, and what they can do to many at once."""

import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from typing import IO

from django.contrib.auth.models import User
from django.utils.translation import ngettext

from gallery.models import Generation
from gallery.services import access, downloads, pagination, storage

# One zip holds at most this many originals (about 0.3-2 MB each): big enough for a page of
# selections, small enough to build in a request without tying up a worker for long.
ZIP_MAX_ITEMS = 200
HISTORY_PAGE_SIZE = 30


def history_page(
    user: User, before: int | None = None, page_size: int = HISTORY_PAGE_SIZE
) -> pagination.Page[Generation]:
    """The owner's generations in every status, newest first (the owner/-id index)."""
    rows = access.own(user).order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    return pagination.cut(rows, page_size)


def owned(user: User, public_ids: Iterable[str]) -> list[Generation]:
    """The posted ids that belong to `user`; anyone else's ids are silently ignored."""
    wanted = {str(p) for p in public_ids if p}
    if not wanted or not user.is_authenticated:
        return []
    return list(access.own(user).filter(public_id__in=wanted).order_by("-id"))


def bulk_delete(user: User, public_ids: Iterable[str]) -> int:
    """Delete the user's own generations among `public_ids` (files after commit)."""
    items = owned(user, public_ids)
    for item in items:
        storage.delete(item)
    return len(items)


class TooManyItems(ValueError):
    pass


def build_zip(
    user: User, public_ids: Iterable[str], page_url: Callable[[Generation], str]
) -> tuple[IO[bytes], int]:
    """A zip of the user's own selected originals (with metadata per their preference) and
    a manifest.jsonl of prompts, in a temporary file (rewound). Returns it and the count."""
    items = [item for item in owned(user, public_ids) if item.has_image]
    if len(items) > ZIP_MAX_ITEMS:
        message = ngettext(
            "Select at most %(most)s image for one download.",
            "Select at most %(most)s images for one download.",
            ZIP_MAX_ITEMS,
        )
        raise TooManyItems(message % {"most": ZIP_MAX_ITEMS})
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned to the caller, who closes it)
    manifest = []
    # Images are already compressed: store them; only the manifest is deflated.
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in items:
            name = downloads.download_name(item)
            url = page_url(item)
            archive.writestr(name, downloads.original_bytes(item, url))
            manifest.append(
                {
                    "file": name,
                    "id": item.public_id,
                    "prompt": item.prompt,
                    "negative_prompt": item.negative_prompt,
                    "created_at": item.created_at.isoformat(),
                    "width": item.width,
                    "height": item.height,
                    "format": item.format,
                    "sha256": item.sha256,
                    "endpoint": item.endpoint_label,
                    "url": url,
                }
            )
        archive.writestr(
            "manifest.jsonl",
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in manifest),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    spool.seek(0)
    return spool, len(items)
