"""Where a generation's files live in storage, and removing them: file names per claim,
deleting files, and deleting generations with their files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile

from gallery.models import Generation
from gallery.services import images

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileNames:
    original: str
    thumbnails: tuple[str, ...]
    preview: str


def file_names(public_id: str, token: str, extension: str) -> FileNames:
    """Where one claim's files go. Derived from the claim token, so the files of a worker
    that died can be found and removed, and two claims never write the same name."""
    stem = f"{public_id[:2]}/{public_id}-{token[:10]}"
    return FileNames(
        original=f"originals/{stem}.{extension}",
        thumbnails=tuple(f"thumbnails/{stem}-{size}.webp" for size in images.THUMBNAIL_SIZES),
        preview=f"previews/{stem}-{images.PREVIEW_SIZE}.webp",
    )


def possible_files(public_id: str, token: str) -> list[str]:
    """Every name one claim's files can have, whatever the original's format."""
    names = [file_names(public_id, token, ext) for ext in images.EXTENSIONS.values()]
    return sorted({name for n in names for name in (n.original, *n.thumbnails, n.preview)})


def stored_name(field: FieldFile) -> str:
    """The storage name of a file field; FileNotFoundError (an OSError) when it has none."""
    if not field.name:
        raise FileNotFoundError(f"No {field.field.name} file.")
    return field.name


def delete_files(names: list[str]) -> None:
    """Remove these files from storage; a failure is logged, never raised (the row that
    named them is already gone or was never written)."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not delete %s", name)


def delete(generation: Generation) -> None:
    """Delete the row, then its files once the deletion has committed."""
    names = [stored_name(f) for f in generation.file_fields()]
    with transaction.atomic():
        generation.delete()
        transaction.on_commit(partial(delete_files, names), robust=True)


def delete_many(generations: QuerySet[Generation]) -> int:
    """Delete these rows, then their files once the deletion has committed. Returns the
    number of generations deleted."""
    with transaction.atomic():
        rows = list(generations.only("pk", *Generation.FILE_FIELDS))
        names = [stored_name(f) for row in rows for f in row.file_fields()]
        Generation.objects.filter(pk__in=[row.pk for row in rows]).delete()
        transaction.on_commit(partial(delete_files, names), robust=True)
    return len(rows)
