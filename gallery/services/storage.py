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


def signed_names(original: str) -> tuple[str, str]:
    """Where the signed copy of the original stored at `original` goes: (with the prompt's
    metadata, without). Beside the original's name, so that its files are found from it."""
    stem, _, extension = original.removeprefix("originals/").rpartition(".")
    return f"signed/{stem}-c2pa.{extension}", f"signed/{stem}-c2pa-bare.{extension}"


def possible_files(public_id: str, token: str) -> list[str]:
    """Every name one claim's files can have, whatever the original's format (its signed
    copies included)."""
    names = [file_names(public_id, token, ext) for ext in images.EXTENSIONS.values()]
    return sorted(
        {
            name
            for n in names
            for name in (n.original, *n.thumbnails, n.preview, *signed_names(n.original))
        }
    )


def owned_files(generation: Generation) -> list[str]:
    """The names of every file the row owns, and the names its signed copy may have even if
    the row does not name it (a process that died between writing one and recording it)."""
    names = [stored_name(f) for f in generation.file_fields()]
    if generation.original:
        names += signed_names(stored_name(generation.original))
    return sorted(set(names))


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
    names = owned_files(generation)
    with transaction.atomic():
        generation.delete()
        transaction.on_commit(partial(delete_files, names), robust=True)


def delete_many(generations: QuerySet[Generation]) -> int:
    """Delete these rows, then their files once the deletion has committed. Returns the
    number of generations deleted."""
    with transaction.atomic():
        rows = list(generations.only("pk", *Generation.ALL_FILE_FIELDS))
        names = [name for row in rows for name in owned_files(row)]
        Generation.objects.filter(pk__in=[row.pk for row in rows]).delete()
        transaction.on_commit(partial(delete_files, names), robust=True)
    return len(rows)
