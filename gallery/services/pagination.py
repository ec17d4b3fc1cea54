"""Keyset pagination, the one way every list is paged (the grid, My history, the review
queue, the JSON API): a page is cut on the primary key, never with OFFSET or COUNT(*), so
its cost does not grow with the table and rows added meanwhile never shift a page. The
cursor is the last id shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

T = TypeVar("T", bound=Model)

# What a cursor looks like in a URL: an id, as the schema of the JSON API publishes it.
CURSOR_PATTERN = r"^[0-9]{1,18}$"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: int | None  # the last id shown, when there is more


def parse_cursor(value: str | None) -> int | None:
    """A cursor from a URL, or None when missing or malformed (then: the first page)."""
    if value and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def cut(rows: QuerySet[T], page_size: int) -> Page[T]:
    """The first `page_size` of `rows` (already ordered and filtered past the cursor). One
    row more than the page is read: whether there is a next page, without a COUNT(*)."""
    fetched = list(rows[: page_size + 1])
    items = fetched[:page_size]
    return Page(items=items, next_cursor=items[-1].pk if len(fetched) > page_size else None)
