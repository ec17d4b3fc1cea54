"""The fast path's memory: the bytes of thumbnails and previews, kept per web process, and
the stamp that makes every process forget them the moment any image's access may have
changed (docs/decisions.md, "Public thumbnails at static speed").

- Only derivatives (thumbnails and previews) are kept, never an original, under one of two
  kinds of key. A public URL's entry: kept only while anyone at all may fetch the file
  (`access.files_shareable`). A private URL's entry: kept for one session cookie, only
  while that session's user may see the file (`access.files_viewable`, for the user
  `accounts.services.session_user` finds). The rules are asked, never copied.
- Nothing negative is kept: a refusal, or a missing file, always takes the full check.
- The stamp is a file (GALLERY_MEDIA_STAMP, in the data dir) that grows by one byte whenever
  an image's visibility, moderation, status, owner or files change, a row is deleted, the
  site's settings change, an account signs out, is saved (its password, its staff flag) or
  is deleted, or a session is deleted (`access_changed`, called on commit). Every hit
  compares the stamp (one stat) with the one read before its entry was filled, so a
  process that did not make the change still stops serving at once. One host: the web
  processes share the data dir.
- Entries also lapse after MAX_AGE seconds, should a change ever be written without the
  stamp; memory is bounded by GALLERY_MEDIA_CACHE_BYTES per process (least recently used
  first out).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, transaction

from accounts.services import session_user
from gallery.models import Generation
from gallery.services import access, images, storage

MAX_AGE = 30.0
LARGEST = 1024 * 1024  # a file bigger than this is not kept (previews are ~100 KB)
DERIVATIVES = Generation.DERIVATIVE_FIELDS
_STAMP_SIZE_LIMIT = 1 << 20  # the stamp is emptied when it gets this big


@dataclass(frozen=True)
class KeptFile:
    body: bytes
    content_type: str
    etag: str
    stamp: tuple[int, int]
    filled_at: float
    shared: bool  # anyone may fetch it: shared caches may keep it too


# (session key, or "" for a public URL; public id; file name) -> the file
_entries: OrderedDict[tuple[str, str, str], KeptFile] = OrderedDict()
_size = 0
_lock = threading.Lock()


def enabled() -> bool:
    """On when files are streamed from local storage by the app (not S3, not X-Accel)."""
    return (
        settings.GALLERY_MEDIA_FAST_PATH
        and not settings.GALLERY_MEDIA_ACCEL
        and not settings.GALLERY_MEDIA_REDIRECT
        and isinstance(default_storage, FileSystemStorage)
    )


def _stamp_path() -> Path:
    return Path(settings.GALLERY_MEDIA_STAMP)


def stamp() -> tuple[int, int]:
    """The current stamp: (size, mtime) of the stamp file, (0, 0) before the first change."""
    return read_stamp(settings.GALLERY_MEDIA_STAMP)  # on every hit: no Path built per call


def read_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """A stamp file's (size, mtime); (0, 0) before its first change. One stat."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


def bump_stamp(path: Path) -> None:
    """Change a stamp file, so that every process that reads it next sees a new stamp."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: every process's byte lands, so the size only grows (until emptied, which
    # changes it too).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if os.fstat(fd).st_size >= _STAMP_SIZE_LIMIT:
            os.ftruncate(fd, 0)
        os.write(fd, b".")
    finally:
        os.close(fd)


def _bump() -> None:
    bump_stamp(_stamp_path())
    forget_all()


def access_changed() -> None:
    """Tell every web process that some image's access may have changed: once the current
    transaction commits (at once outside one), and once now, so nothing is filled in between
    from the state being replaced."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def forget_all() -> None:
    """Empty this process's entries (the stamp makes the other processes do the same)."""
    global _size
    with _lock:
        _entries.clear()
        _size = 0


def cached(public_id: str, filename: str, session_key: str = "") -> KeptFile | None:
    """A kept entry that is still valid, without touching the database: the public URL's
    (no session key) or the one kept for this session."""
    key = (session_key, public_id, filename)
    entry = _entries.get(key)
    if entry is None:
        return None
    if entry.stamp != stamp() or time.monotonic() - entry.filled_at > MAX_AGE:
        with _lock:
            _drop(key)
        return None
    return entry


def fill(public_id: str, filename: str) -> KeptFile | None:
    """A public URL's file, looked up (the database and storage): kept and returned if
    anyone may fetch it, else None (then the full check answers). Synchronous: call it
    from a thread."""
    before = stamp()  # read first: a change committed during the lookup invalidates it
    try:
        item = _row(public_id)
        if item is None or not access.files_shareable(item):
            return None
        return _read_and_keep(("", public_id, filename), item, before, shared=True)
    finally:
        connection.close()  # this runs outside any request: leave no connection behind


def fill_for_session(session_key: str, public_id: str, filename: str) -> KeptFile | None:
    """A private URL's file for this session cookie: kept and returned if the session's
    user may see it, else None (then the full check answers). Synchronous."""
    before = stamp()
    try:
        viewer = session_user(session_key)
        if viewer is None:
            return None
        item = _row(public_id)
        if item is None or not access.files_viewable(viewer, item):
            return None
        return _read_and_keep((session_key, public_id, filename), item, before, shared=False)
    finally:
        connection.close()


def _row(public_id: str) -> Generation | None:
    return (
        Generation.objects.filter(public_id=public_id)
        .only("status", "visibility", "moderation", "owner_id", *DERIVATIVES)
        .first()
    )


def _read_and_keep(
    key: tuple[str, str, str], item: Generation, before: tuple[int, int], *, shared: bool
) -> KeptFile | None:
    field = item.file_named(key[2], among=DERIVATIVES)
    if field is None:
        return None
    try:
        with default_storage.open(storage.stored_name(field), "rb") as handle:
            if handle.size > LARGEST:
                return None
            body = handle.read()
    except FileNotFoundError:
        return None
    entry = KeptFile(
        body=body,
        content_type=images.content_type(images.THUMBNAIL_FORMAT),
        etag=f'"{key[2]}"',  # the name carries the claim token: its bytes never change
        stamp=before,
        filled_at=time.monotonic(),
        shared=shared,
    )
    _keep(key, entry)
    return entry


def _keep(key: tuple[str, str, str], entry: KeptFile) -> None:
    global _size
    budget = settings.GALLERY_MEDIA_CACHE_BYTES
    if len(entry.body) > budget:
        return
    with _lock:
        _drop(key)
        _entries[key] = entry
        _size += len(entry.body)
        while _size > budget:
            _, old = _entries.popitem(last=False)
            _size -= len(old.body)


def _drop(key: tuple[str, str, str]) -> None:
    global _size
    old = _entries.pop(key, None)
    if old is not None:
        _size -= len(old.body)


def on_row_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """post_save: a new row was never kept; a save of other fields changes no access."""
    if created:
        return
    if update_fields is None or not set(update_fields).isdisjoint(ACCESS_FIELDS):
        access_changed()


def on_deleted(sender, **kwargs) -> None:
    """post_delete of a generation."""
    access_changed()


def on_site_saved(sender, created: bool, **kwargs) -> None:
    """post_save of the site's settings (anonymous browsing); their first save, made on
    first use, changes nothing anyone was served."""
    if not created:
        access_changed()


# A change to any of these may change who may fetch an image's files.
ACCESS_FIELDS = {"status", "visibility", "moderation", "owner", *DERIVATIVES, "original"}


def on_account_changed(sender, update_fields=None, **kwargs) -> None:
    """An account signed out, was saved or deleted, or a session was deleted: what a session
    kept may no longer be its user's to see. (Signing in saves only last_login.)"""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    access_changed()
