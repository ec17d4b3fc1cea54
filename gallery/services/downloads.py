"""Downloads of originals: the stored file, plus its prompt as metadata when wanted.

Whose choice: the *owner's* "Embed the prompt in downloaded files" preference decides, for
everyone who downloads the image, because the prompt is the owner's to share or keep. An
image whose owner deleted their account (owner null) keeps the default (embed).
"""

from django.core.files.storage import default_storage

from gallery.models import Generation, Preferences
from gallery.services import images, storage


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


def provenance(item: Generation, page_url: str) -> images.Provenance:
    return images.Provenance(
        prompt=item.prompt,
        negative_prompt=item.negative_prompt,
        public_id=item.public_id,
        page_url=page_url,
        endpoint_label=item.endpoint_label,
        created_at=item.created_at,
    )


def original_bytes(item: Generation, page_url: str) -> bytes:
    """The original as it should be downloaded. The stored file is never changed: metadata
    is added to a copy in memory (originals are capped at GALLERY_MAX_IMAGE_BYTES)."""
    with default_storage.open(storage.stored_name(item.original), "rb") as handle:
        data = handle.read()
    if not embeds_metadata(item):
        return data
    try:
        return images.with_metadata(data, item.format, provenance(item, page_url))
    except images.InvalidImageError:
        return data  # a container we cannot parse: the untouched original is still right


def download_name(item: Generation) -> str:
    return f"{item.public_id}.{storage.stored_name(item.original).rsplit('.', 1)[-1]}"
