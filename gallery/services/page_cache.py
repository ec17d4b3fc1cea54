"""The signed-out grid's HTML, kept per web process, and forgotten by every process the
moment anything a signed-out visitor sees may have changed (docs/decisions.md, "The
signed-out grid from memory").

- Only pages for a visitor who is not signed in and has no message waiting are kept, and
  only a 200 that sets no cookie: such a page holds no CSRF token, no composer and nothing
  of one person, so one copy serves every such visitor of the same URL.
- The key is the full path with its query, the language, and whether htmx asked for the
  fragment (infinite scroll gets the next page only, at the same URL).
- An entry is valid while two stamps are as they were before its page was rendered: the
  media stamp (media_cache: any change of who may see an image, the site's settings,
  accounts) and this module's own, bumped when an image's shown content may change (an
  image lands, a row is saved or imported). Both are files in the data dir, read with one
  stat each, so a process that did not make the change stops serving at once.
- Entries also lapse after MAX_AGE seconds, should a change ever be written without a
  stamp; at most MAX_ENTRIES are kept per process (least recently used first out), so
  made-up query strings cannot grow the memory.
- The web server (config/asgi.py) also keeps the whole answer Django gave for such a page
  (the middleware's headers included) under the raw request it answered: one with no
  cookie and no Authorization at all. The next such request is answered from it before
  Django, under the same stamps and age (`reply`, `keep_reply`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from gallery.models import Generation
from gallery.services import media_cache

MAX_AGE = 30.0
MAX_ENTRIES = 256
LARGEST = 512 * 1024  # a grid page is ~40 KB; nothing near this is expected

Stamp = tuple[tuple[int, int], tuple[int, int]]
Key = tuple[str, str, bool]
# Of a raw request with no cookie and no Authorization: host, https, path and query,
# Accept-Language, HX-Request.
Traits = tuple[bytes, bool, bytes, bytes, bool]


@dataclass(frozen=True)
class KeptPage:
    body: bytes
    content_type: str
    stamp: Stamp
    filled_at: float


@dataclass(frozen=True)
class KeptReply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stamp: Stamp
    filled_at: float


_entries: OrderedDict[Key, KeptPage] = OrderedDict()
_replies: OrderedDict[Traits, KeptReply] = OrderedDict()
_lock = threading.Lock()


def key_for(
    *, method: str, signed_in: bool, has_messages: bool, full_path: str, language: str, htmx: bool
) -> Key | None:
    """The entry a request may be answered from (and its page kept under), or None when
    its page is not one to share: anything but a GET, a signed-in user, a message waiting."""
    if not settings.GALLERY_PAGE_CACHE or method != "GET" or signed_in or has_messages:
        return None
    return (full_path, language, htmx)


def _stamp_path() -> Path:
    return Path(settings.GALLERY_PAGE_STAMP)


def stamp() -> Stamp:
    """Read before rendering a page that will be kept: a change committed while it renders
    then makes the entry stale at once."""
    # Read on every hit: the setting's path as it is, with no Path built per call.
    return (media_cache.stamp(), media_cache.read_stamp(settings.GALLERY_PAGE_STAMP))


def _valid(table: OrderedDict, key) -> KeptPage | KeptReply | None:
    """The entry under `key` in `table`, if both stamps still match and it is fresh enough."""
    entry = table.get(key)
    if entry is None:
        return None
    if entry.stamp != stamp() or time.monotonic() - entry.filled_at > MAX_AGE:
        with _lock:
            table.pop(key, None)
        return None
    with _lock:
        if key in table:
            table.move_to_end(key)
    return entry


def _put(table: OrderedDict, key, entry: KeptPage | KeptReply) -> None:
    with _lock:
        table.pop(key, None)
        table[key] = entry
        while len(table) > MAX_ENTRIES:
            table.popitem(last=False)


def cached(key: Key) -> KeptPage | None:
    """The page kept under `key`, if both stamps still match and it is fresh enough."""
    return _valid(_entries, key)  # type: ignore[return-value]


def keep(
    key: Key, *, before: Stamp, status: int, body: bytes, content_type: str, sets_cookies: bool
) -> KeptPage | None:
    """Keep a rendered page under `key`, if it is one every signed-out visitor may get."""
    if status != 200 or sets_cookies or len(body) > LARGEST:
        return None
    page = KeptPage(body, content_type, stamp=before, filled_at=time.monotonic())
    _put(_entries, key, page)
    return page


def reply(traits: Traits) -> KeptReply | None:
    """Django's whole answer kept for a request with these traits, while still valid."""
    return _valid(_replies, traits)  # type: ignore[return-value]


def keep_reply(
    traits: Traits, page: KeptPage, *, status: int, headers: list[tuple[bytes, bytes]]
) -> None:
    """Keep Django's answer to a request with these traits, made from the kept `page`, for
    as long as that page is valid; anything that would set a cookie is never kept."""
    if status != 200 or any(name.lower() == b"set-cookie" for name, _ in headers):
        return
    _put(_replies, traits, KeptReply(status, headers, page.body, page.stamp, page.filled_at))


def forget_all() -> None:
    with _lock:
        _entries.clear()
        _replies.clear()


def _bump() -> None:
    media_cache.bump_stamp(_stamp_path())
    forget_all()


def content_changed() -> None:
    """Tell every web process that what a signed-out visitor sees may have changed: now and
    once the current transaction commits (at once outside one), so no page is kept in
    between from the state being replaced."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def on_row_saved(sender, instance: Generation, created: bool, **kwargs) -> None:
    """post_save of a generation: its title, prompt, status or files may be on a page. A new
    row waiting in the queue is on no signed-out page yet (a finished one, imported, is)."""
    if created and instance.status != Generation.Status.SUCCEEDED:
        return
    content_changed()
