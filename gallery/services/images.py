"""Untrusted image bytes: verify them, and make the grid's thumbnails.

Everything here works in memory; storing files is the pipeline's job.
"""

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# What an SDXL endpoint may answer with. Anything else (HTML, SVG, TIFF...) is rejected.
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}

# Grid thumbnails: a 256 px cell, drawn at 1x and 2x. WebP gives about a third of JPEG's
# bytes at the same look and every current browser shows it.
THUMBNAIL_SIZES = (256, 512)
THUMBNAIL_FORMAT = "WEBP"
THUMBNAIL_QUALITY = 80


class InvalidImageError(ValueError):
    """The bytes are not an image we accept; the message says why, in plain words."""


@dataclass(frozen=True)
class VerifiedImage:
    data: bytes
    format: str
    width: int
    height: int
    sha256: str
    pixels: Image.Image  # decoded once here, reused for the thumbnails

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True)
class Thumbnail:
    size: int
    data: bytes


def verify(data: bytes, *, max_pixels: int) -> VerifiedImage:
    """Decode `data` completely, or raise InvalidImageError.

    The header is checked (format whitelist, pixel cap) before any pixel is decoded, so a
    decompression bomb costs nothing; the full decode then catches truncated files.
    """
    if not data:
        raise InvalidImageError("The endpoint returned an empty response instead of an image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(EXTENSIONS))
    except UnidentifiedImageError as exc:
        raise InvalidImageError("The endpoint returned something that is not an image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError("The endpoint returned an image with far too many pixels.") from exc
    width, height = img.size
    if width * height > max_pixels or width < 1 or height < 1:
        raise InvalidImageError(
            f"The endpoint returned a {width}x{height} image, larger than this gallery accepts."
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError("The endpoint returned a damaged or incomplete image.") from exc
    fmt = img.format
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    return VerifiedImage(
        data=data,
        format=fmt,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        pixels=img,
    )


def make_thumbnails(image: VerifiedImage) -> list[Thumbnail]:
    """One WebP per THUMBNAIL_SIZES entry (the longest side), largest made from the original
    and each smaller one from the previous, which keeps the cost near one resize."""
    thumbs: list[Thumbnail] = []
    source = image.pixels
    for size in sorted(THUMBNAIL_SIZES, reverse=True):
        scaled = source.copy() if max(source.size) <= size else _fit(source, size)
        buf = io.BytesIO()
        scaled.save(buf, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY)
        thumbs.append(Thumbnail(size=size, data=buf.getvalue()))
        source = scaled
    thumbs.reverse()
    return thumbs


def average_color(image: VerifiedImage) -> str:
    """The image's mean colour as #rrggbb, for the placeholder behind a loading thumbnail."""
    pixels = image.pixels
    # Shrink first (cheap box reduction), then convert only the few remaining pixels.
    small = pixels.reduce(max(1, min(pixels.size) // 16)).convert("RGB")
    r, g, b = small.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return f"#{r:02x}{g:02x}{b:02x}"


def _fit(img: Image.Image, size: int) -> Image.Image:
    scale = size / max(img.size)
    target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(target, Image.Resampling.LANCZOS)
