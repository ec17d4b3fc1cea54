"""Downloads of originals: what leaves the gallery is a signed copy, never the stored file.

The stored original stays byte-exact (its SHA-256 is the row's record). A download gets a
copy with the prompt as metadata when the owner allows it, and a C2PA manifest signed by this
installation (gallery.services.provenance) that says the image is AI-generated. The copy is
made on the first download, stored beside the original and reused; it is made again only
when what it was made with changes (the owner's preference, or the signing certificate).

Whose choice: the *owner's* "Embed the prompt in downloaded files" preference decides, for
everyone who downloads the image, because the prompt is the owner's to share or keep. An
image whose owner deleted their account (owner null) keeps the default (embed).
"""

from __future__ import annotations

import logging
from functools import partial

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.fields.files import FieldFile

from gallery.models import Generation, Preferences
from gallery.services import images, provenance, storage

logger = logging.getLogger(__name__)


def embeds_metadata(item: Generation) -> bool:
    """The owner's choice, read without creating a Preferences row on a download."""
    if item.owner_id is None:
        return True
    choice = (
        Preferences.objects.filter(user_id=item.owner_id)
        .values_list("embed_metadata", flat=True)
        .first()
    )
    return True if choice is None else choice


def metadata(item: Generation, page_url: str) -> images.Provenance:
    return images.Provenance(
        prompt=item.prompt,
        negative_prompt=item.negative_prompt,
        public_id=item.public_id,
        page_url=page_url,
        endpoint_label=item.endpoint_label,
        created_at=item.created_at,
    )


def _stored_original(item: Generation) -> bytes:
    with default_storage.open(storage.stored_name(item.original), "rb") as handle:
        return handle.read()


def unsigned_bytes(item: Generation, page_url: str, *, with_metadata: bool) -> bytes:
    """The original with its metadata when wanted, in memory (originals are capped at
    GALLERY_MAX_IMAGE_BYTES). The stored file is never changed."""
    data = _stored_original(item)
    if not with_metadata:
        return data
    try:
        return images.with_metadata(data, item.format, metadata(item, page_url))
    except images.InvalidImageError:
        return data  # a container we cannot parse: the untouched original is still right


def variant(with_metadata: bool) -> str:
    """What a signed copy made now would be made with: the signer, and the prompt or not."""
    return f"{provenance.credentials().fingerprint}:{'meta' if with_metadata else 'bare'}"


def signed_original(item: Generation, page_url: str) -> FieldFile | None:
    """The row's signed copy, made now if it has none or one made with something else.
    None when the original cannot be signed (logged): the caller hands out the unsigned
    copy rather than nothing. FileNotFoundError when the original is missing."""
    with_metadata = embeds_metadata(item)
    wanted = variant(with_metadata)
    if item.signed_original and item.signed_variant == wanted:
        return item.signed_original
    data = unsigned_bytes(item, page_url, with_metadata=with_metadata)
    claim = provenance.Claim(
        title=download_name(item),
        endpoint_label=item.endpoint_label,
        created_at=item.created_at,
        prompt=item.prompt if with_metadata else None,
        negative_prompt=item.negative_prompt if with_metadata else "",
    )
    try:
        signed = provenance.sign(data, item.format, claim)
    except provenance.SigningError:
        logger.exception("Could not sign the original of %s", item.public_id)
        return None
    return _record(item, signed, wanted, with_metadata)


def _record(item: Generation, signed: bytes, wanted: str, with_metadata: bool) -> FieldFile:
    """Store the signed copy and name it on the row, unless another request did first (then
    theirs is used and ours removed). The copy it replaces is deleted after the commit."""
    original = storage.stored_name(item.original)
    target = storage.signed_names(original)[0 if with_metadata else 1]
    name = default_storage.save(target, ContentFile(signed))
    old = item.signed_original.name or ""
    try:
        with transaction.atomic():
            updated = Generation.objects.filter(
                pk=item.pk, original=original, signed_original=old
            ).update(
                signed_original=name,
                signed_sha256=provenance.sha256(signed),
                signed_variant=wanted,
            )
            if updated and old and old != name:
                transaction.on_commit(partial(storage.delete_files, [old]), robust=True)
    except BaseException:
        storage.delete_files([name])
        raise
    if not updated:
        storage.delete_files([name])
        item.refresh_from_db(fields=["signed_original", "signed_sha256", "signed_variant"])
        return item.signed_original
    item.signed_original = name
    item.signed_sha256 = provenance.sha256(signed)
    item.signed_variant = wanted
    return item.signed_original


def original_bytes(item: Generation, page_url: str) -> bytes:
    """The original as it should leave the gallery, in memory: the signed copy (made if
    need be), or the unsigned one with metadata when it cannot be signed."""
    field = signed_original(item, page_url)
    if field is None:
        return unsigned_bytes(item, page_url, with_metadata=embeds_metadata(item))
    with default_storage.open(storage.stored_name(field), "rb") as handle:
        return handle.read()


def download_name(item: Generation) -> str:
    return f"{item.public_id}.{storage.stored_name(item.original).rsplit('.', 1)[-1]}"
