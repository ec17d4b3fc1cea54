"""Untrusted image bytes: verify them, make the grid's thumbnails and the detail preview, and
write the prompt into downloaded files.

Everything here works in memory; storing files is the pipeline's job.
"""

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from PIL import Image, UnidentifiedImageError

# What an SDXL endpoint may answer with. Anything else (HTML, SVG, TIFF...) is rejected.
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Grid thumbnails: a 256 px cell, drawn at 1x and 2x. WebP gives about a third of JPEG's
# bytes at the same look and every current browser shows it.
THUMBNAIL_SIZES = (256, 512)
THUMBNAIL_FORMAT = "WEBP"
THUMBNAIL_QUALITY = 80

# The detail page's image: big enough for a large screen at 1x (and a laptop at 2x), a
# fraction of a PNG original's bytes. Smaller originals are re-encoded at their own size.
PREVIEW_SIZE = 1024
PREVIEW_QUALITY = 82


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


def content_type(fmt: str) -> str:
    """The media type of a verified format (as stored in `Generation.format`)."""
    return CONTENT_TYPES.get(fmt.upper(), "application/octet-stream")


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
    fmt = img.format or ""  # always set: Image.open took it from the whitelist
    pixels: Image.Image = img
    if img.mode not in ("RGB", "RGBA"):
        pixels = img.convert(
            "RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB"
        )
    return VerifiedImage(
        data=data,
        format=fmt,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        pixels=pixels,
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


def make_preview(image: VerifiedImage) -> bytes:
    """The detail page's WebP, PREVIEW_SIZE on the longest side at most."""
    source = image.pixels
    scaled = source if max(source.size) <= PREVIEW_SIZE else _fit(source, PREVIEW_SIZE)
    buf = io.BytesIO()
    scaled.save(buf, THUMBNAIL_FORMAT, quality=PREVIEW_QUALITY, method=4)
    return buf.getvalue()


def average_color(image: VerifiedImage) -> str:
    """The image's mean colour as #rrggbb, for the placeholder behind a loading thumbnail."""
    pixels = image.pixels
    # Shrink first (cheap box reduction), then convert only the few remaining pixels.
    small = pixels.reduce(max(1, min(pixels.size) // 16)).convert("RGB")
    r, g, b = small.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    return f"#{r:02x}{g:02x}{b:02x}"


def _fit(img: Image.Image, size: int) -> Image.Image:
    scale = size / max(img.size)
    target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(target, Image.Resampling.LANCZOS)


# --- Metadata in downloaded files -----------------------------------------------------------
#
# The prompt and where the image came from are written as the formats' own metadata, by
# inserting chunks/segments into the container. The pixels (and the entropy-coded data) are
# never decoded or re-encoded, so a download is the original plus a few hundred bytes.

SOFTWARE = "Generated with SDXL Gallery"
XMP_NS = "https://sdxl-gallery.invalid/ns/1.0/"  # our own fields (negative prompt, endpoint)
# IPTC's "digital source type" for an image made by a generative model: written in the XMP
# (for tools that read IPTC but not C2PA) and in the C2PA manifest (provenance.py).
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"


@dataclass(frozen=True)
class Provenance:
    prompt: str
    negative_prompt: str
    public_id: str
    page_url: str
    endpoint_label: str
    created_at: datetime

    @property
    def parameters(self) -> str:
        """Prompts in the "parameters" layout many Stable Diffusion tools read and write."""
        text = self.prompt
        if self.negative_prompt:
            text += f"\nNegative prompt: {self.negative_prompt}"
        return text


def with_metadata(data: bytes, fmt: str, fields: Provenance) -> bytes:
    """`data` with `fields` embedded as standard metadata, pixels untouched.

    PNG: iTXt chunks (and an XMP packet) before IEND. JPEG: an APP1 EXIF and an APP1 XMP
    segment after SOI/APP0. WebP: EXIF and XMP chunks in the RIFF container (a simple WebP
    becomes the extended layout, VP8X). Anything else is returned unchanged.
    """
    if fmt == "PNG":
        return _png_with_metadata(data, fields)
    if fmt == "JPEG":
        return _jpeg_with_metadata(data, fields)
    if fmt == "WEBP":
        return _webp_with_metadata(data, fields)
    return data


def _exif_tiff(fields: Provenance) -> bytes:
    """An EXIF block (TIFF structure, "Exif\\0\\0" prefix included), built by Pillow."""
    exif = Image.Exif()
    # ImageDescription is ASCII by the standard (Pillow writes "?" for other characters);
    # UserComment carries the full text as UCS-2, in the block's (big-endian) byte order.
    exif[0x010E] = fields.prompt
    exif[0x0131] = SOFTWARE  # Software
    exif[0x0132] = fields.created_at.strftime("%Y:%m:%d %H:%M:%S")  # DateTime
    exif[0x8298] = fields.page_url  # Copyright: where the image lives (owner's rights)
    sub = exif.get_ifd(0x8769)
    sub[0x9286] = b"UNICODE\0" + fields.parameters.encode("utf-16-be")  # UserComment
    sub[0x9003] = fields.created_at.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    return exif.tobytes()


def xmp_packet(fields: Provenance) -> bytes:
    def text(value: str) -> str:
        return escape(value, {'"': "&quot;"})

    created = fields.created_at.isoformat(timespec="seconds")
    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"
    xmlns:sdxl="{XMP_NS}">
   <dc:description><rdf:Alt>
    <rdf:li xml:lang="x-default">{text(fields.prompt)}</rdf:li>
   </rdf:Alt></dc:description>
   <dc:source>{text(fields.page_url)}</dc:source>
   <dc:identifier>{text(fields.public_id)}</dc:identifier>
   <xmp:CreatorTool>{SOFTWARE}</xmp:CreatorTool>
   <xmp:CreateDate>{created}</xmp:CreateDate>
   <Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>
   <sdxl:Prompt>{text(fields.prompt)}</sdxl:Prompt>
   <sdxl:NegativePrompt>{text(fields.negative_prompt)}</sdxl:NegativePrompt>
   <sdxl:Endpoint>{text(fields.endpoint_label)}</sdxl:Endpoint>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""
    return packet.encode("utf-8")


# PNG ---------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt(keyword: str, value: str) -> bytes:
    # keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword.
    body = keyword.encode("latin-1") + b"\0\0\0" + b"\0" + b"\0" + value.encode("utf-8")
    return _png_chunk(b"iTXt", body)


def _png_with_metadata(data: bytes, fields: Provenance) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise InvalidImageError("Not a PNG file.")
    # Walk the chunks to find IEND (the last chunk); everything before it stays as is.
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IEND":
            break
        pos += 12 + length
    else:
        raise InvalidImageError("The PNG file has no end chunk.")
    chunks = [
        _itxt("Title", fields.prompt[:200]),
        _itxt("Description", fields.prompt),
        _itxt("parameters", fields.parameters),
        _itxt("Software", SOFTWARE),
        _itxt("Source", fields.page_url),
        _itxt("Creation Time", fields.created_at.isoformat(timespec="seconds")),
        _itxt("Comment", f"Made by {fields.endpoint_label}; gallery id {fields.public_id}"),
        _itxt("XML:com.adobe.xmp", xmp_packet(fields).decode("utf-8")),
    ]
    if fields.negative_prompt:
        chunks.insert(2, _itxt("Negative prompt", fields.negative_prompt))
    return data[:pos] + b"".join(chunks) + data[pos:]


# JPEG --------------------------------------------------------------------------------------

_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
_SEGMENT_MAX = 65533  # a segment's length field counts itself: 65535 - 2


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _jpeg_with_metadata(data: bytes, fields: Provenance) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise InvalidImageError("Not a JPEG file.")
    # Header segments up to the first SOS; from SOS on (the entropy-coded scan) the bytes are
    # copied as they are. Existing EXIF/XMP segments are replaced by ours (one of each).
    pos = 2
    head: list[bytes] = []
    kept: list[bytes] = []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:  # start of scan
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise InvalidImageError("The JPEG file has a damaged header.")
        segment = data[pos : pos + 2 + length]
        body = segment[4:]
        is_app0 = marker == 0xE0 and not kept
        is_ours = marker == 0xE1 and (body.startswith(b"Exif\0") or body.startswith(_XMP_HEADER))
        if is_app0:
            head.append(segment)
        elif not is_ours:
            kept.append(segment)
        pos += 2 + length
    if data[pos : pos + 2] != b"\xff\xda":
        raise InvalidImageError("The JPEG file's header could not be read.")
    ours = []
    exif = _exif_tiff(fields)
    if len(exif) <= _SEGMENT_MAX:
        ours.append(_jpeg_segment(0xE1, exif))
    xmp = _XMP_HEADER + xmp_packet(fields)
    if len(xmp) <= _SEGMENT_MAX:
        ours.append(_jpeg_segment(0xE1, xmp))
    return b"\xff\xd8" + b"".join(head) + b"".join(ours) + b"".join(kept) + data[pos:]


# WebP --------------------------------------------------------------------------------------


def _riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    pad = b"\0" if len(body) % 2 else b""
    return fourcc + struct.pack("<I", len(body)) + body + pad


def _webp_with_metadata(data: bytes, fields: Provenance) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InvalidImageError("Not a WebP file.")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + size > len(data):
            raise InvalidImageError("The WebP file is cut short.")
        chunks.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size % 2)
    # Ours replace any EXIF/XMP already there.
    chunks = [(c, b) for c, b in chunks if c not in (b"EXIF", b"XMP ")]
    if chunks and chunks[0][0] == b"VP8X":
        vp8x = bytearray(chunks[0][1])
        chunks = chunks[1:]
    else:
        # A simple (lossy VP8 or lossless VP8L) file: the extended layout needs a VP8X
        # header with the canvas size and an alpha flag read from the bitstream header.
        width, height, alpha = _webp_simple_size(chunks)
        vp8x = bytearray(10)
        vp8x[0] = 0x10 if alpha else 0
        vp8x[4:7] = (width - 1).to_bytes(3, "little")
        vp8x[7:10] = (height - 1).to_bytes(3, "little")
    vp8x[0] |= 0x08 | 0x04  # EXIF and XMP present
    body = _riff_chunk(b"VP8X", bytes(vp8x))
    body += b"".join(_riff_chunk(c, b) for c, b in chunks)
    body += _riff_chunk(b"EXIF", _exif_tiff(fields)[6:])  # WebP's EXIF has no "Exif\0\0"
    body += _riff_chunk(b"XMP ", xmp_packet(fields))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _webp_simple_size(chunks: list[tuple[bytes, bytes]]) -> tuple[int, int, bool]:
    for fourcc, body in chunks:
        if fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", body[6:10])
            return width & 0x3FFF, height & 0x3FFF, False
        if fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
            bits = int.from_bytes(body[1:5], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise InvalidImageError("The WebP file has no image data.")
