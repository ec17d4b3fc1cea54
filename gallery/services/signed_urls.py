"""Signed, expiring links to one image file, for clients that fetch without credentials.

The OpenAI images API answers with a URL that the caller (often another program) fetches
without any Authorization header. Such a link carries `?sig=`: a timestamped HMAC
(Django's TimestampSigner, keyed by SECRET_KEY) over the generation's public id and the
file's name, valid for an hour, as OpenAI's own image URLs are. It grants that one file and
nothing else; without a valid signature the media view's usual authorization applies.
"""

from __future__ import annotations

from django.core import signing

from gallery.models import Generation

MAX_AGE_SECONDS = 3600
_SALT = "gallery.signed-media-url"


def _value(public_id: str, filename: str) -> str:
    return f"{public_id}/{filename}"


def original_path(generation: Generation) -> str:
    """The original image's media path with a signature valid for MAX_AGE_SECONDS."""
    filename = generation.original.name.rsplit("/", 1)[-1]
    signed = signing.TimestampSigner(salt=_SALT).sign(_value(generation.public_id, filename))
    signature = signed.removeprefix(_value(generation.public_id, filename) + ":")
    return f"{generation.original_url}?sig={signature}"


def is_valid(public_id: str, filename: str, signature: str) -> bool:
    """Whether `signature` was made for this file and is less than an hour old."""
    if not signature:
        return False
    try:
        signing.TimestampSigner(salt=_SALT).unsign(
            f"{_value(public_id, filename)}:{signature}", max_age=MAX_AGE_SECONDS
        )
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return True
