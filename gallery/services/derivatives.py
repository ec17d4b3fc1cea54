"""Thumbnails and previews made again from a stored original (after a format change, or
when their files went missing)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from gallery.models import Generation
from gallery.services import images, media_cache, similarity, storage

# The files made from the original, which `rebuild_derived` can make again.
DERIVED_FIELDS = ("thumbnail", "thumbnail_2x", "preview_image")


def rebuild_derived(
    generation: Generation,
    *,
    only_missing: bool = False,
    fields: tuple[str, ...] = DERIVED_FIELDS,
) -> list[str]:
    """Make the row's thumbnails and preview again from its original. With `only_missing`,
    only those with no name or no file in storage. Returns the fields replaced.

    New files get new names (a file's URL is cached as immutable, so its bytes never
    change). The row is updated only if it still has this original and these old files
    when it commits; the old files are deleted after that commit, the new ones if it lost."""
    if not generation.has_image or not generation.original:
        return []
    if only_missing:
        fields = tuple(f for f in fields if not _stored(getattr(generation, f).name))
    needs_hash = generation.phash is None
    if not fields and not needs_hash:
        return []
    original = storage.stored_name(generation.original)
    with default_storage.open(original, "rb") as handle:
        image = images.verify(handle.read(), max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS)
    if needs_hash:
        # Rows stored before perceptual hashes existed get theirs here.
        hashed = similarity.fields_for(similarity.dhash(image.pixels))
        Generation.objects.filter(pk=generation.pk, original=original).update(**hashed)
        for name, value in hashed.items():
            setattr(generation, name, value)
        if not fields:
            return ["phash"]
    stem = f"{original.split('/', 1)[-1].rsplit('.', 1)[0]}-{secrets.token_hex(3)}"
    made: dict[str, tuple[str, bytes]] = {}
    if {"thumbnail", "thumbnail_2x"} & set(fields):
        small, large = images.make_thumbnails(image)
        made["thumbnail"] = (f"thumbnails/{stem}-{small.size}.webp", small.data)
        made["thumbnail_2x"] = (f"thumbnails/{stem}-{large.size}.webp", large.data)
    if "preview_image" in fields:
        preview = images.make_preview(image)
        made["preview_image"] = (f"previews/{stem}-{images.PREVIEW_SIZE}.webp", preview)
    written: list[str] = []
    try:
        new = {}
        for name in fields:
            wanted, data = made[name]
            new[name] = default_storage.save(wanted, ContentFile(data))
            written.append(new[name])
        old = {name: getattr(generation, name).name or "" for name in fields}
        with transaction.atomic():
            updated = Generation.objects.filter(pk=generation.pk, original=original, **old).update(
                **new
            )
            if updated:
                media_cache.access_changed()  # the old names no longer serve
                replaced = [n for n in old.values() if n]
                transaction.on_commit(partial(storage.delete_files, replaced), robust=True)
    except BaseException:
        storage.delete_files(written)
        raise
    if not updated:
        storage.delete_files(written)
        return []
    for name, stored in new.items():
        setattr(generation, name, stored)
    return list(fields)


def _stored(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


@dataclass
class RebuildResult:
    rebuilt: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)


def rebuild_many(
    *,
    only_missing: bool = False,
    public_ids: list[str] | None = None,
    fields: tuple[str, ...] = DERIVED_FIELDS,
    batch_size: int = 200,
    progress: Callable[[int, str], Any] | None = None,
) -> RebuildResult:
    """`rebuild_derived` over every row with an image (or those of `public_ids`), in keyset
    batches of the table. A row whose original cannot be read is reported and skipped.
    `progress(total, description)` makes a progress bar (update(n), close())."""
    rows = Generation.objects.with_image().exclude(original="")
    result = RebuildResult()
    if public_ids is not None:
        rows = rows.filter(public_id__in=public_ids)
        found = set(rows.values_list("public_id", flat=True))
        result.failed += [f"{p}: no such generation with an image" for p in public_ids
                          if p not in found]  # fmt: skip
    bar = progress(rows.count(), "Rebuilding") if progress else None
    last = 0
    try:
        while batch := list(rows.filter(pk__gt=last).order_by("pk")[:batch_size]):
            for item in batch:
                try:
                    done = rebuild_derived(item, only_missing=only_missing, fields=fields)
                except (OSError, images.InvalidImageError) as exc:
                    result.failed.append(f"{item.public_id}: {exc}")
                else:
                    if done:
                        result.rebuilt += 1
                    else:
                        result.unchanged += 1
                if bar:
                    bar.update(1)
            last = batch[-1].pk
    finally:
        if bar:
            bar.close()
    return result
