"""Perceptual hashes: "similar images", the verify page's near match, and the hold of an
image nearly identical to one staff removed.

The hash is a 64-bit difference hash (dHash: a 9x8 greyscale thumbnail, one bit per pair
of neighbouring pixels, with a small margin), which survives re-encoding, resizing and
small edits. It is stored with its four 16-bit bands, each indexed. Two hashes within
Hamming distance 3 share at least one band (pigeonhole), so a lookup is four index probes
plus an exact distance over the few rows they return, whatever the size of the table;
farther matches are found when they happen to share a band, which is what "similar
images" wants (nearest first, a handful).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from PIL import Image

from gallery.models import Generation
from gallery.services import access

BANDS = 4
BAND_BITS = 16
# Guaranteed to be found by the band lookup.
NEAR_DUPLICATE_DISTANCE = 3
# "Similar images" shows matches up to this distance (of 64 bits).
SIMILAR_DISTANCE = 12
SIMILAR_COUNT = 8
# A band shared by many rows (a flat, blank-looking image) is cut off here: the cost of one
# lookup stays bounded.
MAX_CANDIDATES = 2000

_MASK = (1 << 64) - 1


# A pair of neighbours counts as "brighter" only by more than this (of 255): smooth
# gradients, where neighbours are nearly equal, would otherwise flip bits on re-encoding.
DHASH_MARGIN = 2


def dhash(pixels: Image.Image) -> int:
    """The 64-bit difference hash of a decoded image, as an unsigned integer."""
    # BOX averages every pixel into the 9x8 grid: the same grid at any source size, which is
    # what keeps a resized copy's hash close (about 2 ms for 1024 px).
    small = pixels.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = small.tobytes()
    value = 0
    for row in range(8):
        for col in range(8):
            left, right = px[row * 9 + col], px[row * 9 + col + 1]
            value = (value << 1) | (left > right + DHASH_MARGIN)
    return value


def to_signed(value: int) -> int:
    """For a signed 64-bit column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def bands(value: int) -> list[int]:
    value &= _MASK
    return [(value >> (BAND_BITS * n)) & 0xFFFF for n in range(BANDS)]


def fields_for(value: int) -> dict[str, int]:
    """The row's phash columns for hash `value` (what the worker and rebuilds store)."""
    row = {"phash": to_signed(value)}
    row.update({f"phash_band{n}": band for n, band in enumerate(bands(value))})
    return row


def distance(a: int, b: int) -> int:
    return ((a ^ b) & _MASK).bit_count()


def _band_query(value: int) -> Q:
    query = Q()
    for n, band in enumerate(bands(value)):
        query |= Q(**{f"phash_band{n}": band})
    return query


def _candidates(value: int, rows=None, exclude: int | None = None) -> list[tuple[int, int]]:
    """(distance, id) of rows sharing a band with `value`, nearest first."""
    rows = (rows if rows is not None else Generation.objects.all()).filter(_band_query(value))
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    found = rows.order_by().values_list("id", "phash")[:MAX_CANDIDATES]
    return sorted((distance(value, h), pk) for pk, h in found if h is not None)


@dataclass(frozen=True)
class Match:
    generation: Generation
    distance: int


def similar(
    viewer: access.AnyUser,
    generation: Generation,
    *,
    limit: int = SIMILAR_COUNT,
    max_distance: int = SIMILAR_DISTANCE,
) -> list[Match]:
    """Images like `generation` that `viewer` may see in the grid, nearest first."""
    if generation.phash is None:
        return []
    return nearest(
        viewer, generation.phash, limit=limit, max_distance=max_distance, exclude=generation.pk
    )


def nearest(
    viewer: access.AnyUser,
    value: int,
    *,
    limit: int = SIMILAR_COUNT,
    max_distance: int = SIMILAR_DISTANCE,
    exclude: int | None = None,
) -> list[Match]:
    """Images near hash `value` that `viewer` may see in the grid, nearest first."""
    near = [(d, pk) for d, pk in _candidates(value, exclude=exclude) if d <= max_distance]
    if not near:
        return []
    # Access is asked once, of the candidates only: the band probe stays index-only.
    ids = [pk for _, pk in near]
    visible = {g.pk: g for g in access.listable(viewer).filter(id__in=ids).select_related("owner")}
    matches = [Match(visible[pk], d) for d, pk in near if pk in visible]
    return matches[:limit]


def removed_near_duplicate(value: int) -> Match | None:
    """The closest image staff removed within NEAR_DUPLICATE_DISTANCE of `value`, if any.
    A removal overturned on appeal forgets its hash, so it no longer counts."""
    rows = Generation.objects.filter(moderation=Generation.Moderation.REMOVED)
    for d, pk in _candidates(value, rows):
        if d > NEAR_DUPLICATE_DISTANCE:
            break
        found = Generation.objects.filter(pk=pk).first()
        if found is not None:
            return Match(found, d)
    return None
