"""Signed, expiring links to one image file, for clients that fetch without credentials.

The OpenAI images API answers with a URL that the caller (often another program) fetches
without any Authorization header. Such a link carries `?sig=`: a timestamped HMAC
(Django's TimestampSigner, keyed by SECRET_KEY) over the generation's public id and the
file's name and the image's visibility, valid for an hour, as OpenAI's own image URLs are.
It grants that one file and nothing else, and only while `access.files_open_by_link` holds:
making the image private (or public), or a moderator hiding it, ends it at once. Without a
valid signature the media view's usual authorization applies.
"""

from __future__ import annotations

from django.core import signing

from gallery.models import Generation
from gallery.services import access, storage

MAX_AGE_SECONDS = 3600
_SALT = "gallery.signed-media-url"


def _value(generation: Generation, filename: str) -> str:
    return f"{generation.public_id}/{filename}/{generation.visibility}"


def original_path(generation: Generation) -> str:
    """The original image's media path with a signature valid for MAX_AGE_SECONDS."""
    filename = storage.stored_name(generation.original).rsplit("/", 1)[-1]
    value = _value(generation, filename)
    signature = signing.TimestampSigner(salt=_SALT).sign(value).removeprefix(value + ":")
    return f"{generation.original_url}?sig={signature}"


def opens(generation: Generation, filename: str, signature: str) -> bool:
    """Whether `signature` was made for this file of the image as it is now, is less than
    an hour old, and the image may still be served by link."""
    if not signature or not access.files_open_by_link(generation):
        return False
    try:
        signing.TimestampSigner(salt=_SALT).unsign(
            f"{_value(generation, filename)}:{signature}", max_age=MAX_AGE_SECONDS
        )
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return True
