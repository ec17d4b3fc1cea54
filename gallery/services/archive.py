"""A portable archive of the gallery: a zip of the image files plus a JSON Lines manifest
(`manage.py export_gallery` / `import_gallery`).

Layout of the zip:
  export.json      {"format": "sdxl-gallery-export", "version": 1, "generations": N, ...}
  manifest.jsonl   one JSON object per generation (see `_row_to_record`)
  originals/...    every file under its storage name, so imported rows keep their names
  thumbnails/...   (and with them the media URLs people have bookmarked)
  previews/...

Only finished generations (succeeded or failed) are exported: queued and running ones
belong to this installation's queue. Thumbnails and previews travel with the originals, so
an import writes byte-identical files without decoding a single image, whatever Pillow or
libwebp version the importing machine has (`rebuild_thumbnails` re-makes them if wanted).

Both directions stream: one row's files at a time, the manifest read line by line, and the
table read in keyset batches. What grows is zipfile's in-memory directory of the archive,
about 3 KB per image (measured: 120 MB peak for 20,000 images, so ~360 MB for 100,000).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Field
from django.utils import timezone

from gallery.models import Generation
from gallery.services.storage import delete_files

FORMAT = "sdxl-gallery-export"
VERSION = 1
MANIFEST = "manifest.jsonl"
HEADER = "export.json"
BATCH = 500
CHUNK = 1024 * 1024
# A row's files are staged here while their checksum is checked; larger ones spill to disk.
SPOOL_BYTES = 8 * 1024 * 1024

FINISHED = (Generation.Status.SUCCEEDED, Generation.Status.FAILED)
# Copied as they are. Left out: the id and foreign keys (written as usernames and public ids),
# and the queue's bookkeeping of the exporting installation (claim token, lease, task id,
# status note), which is blank or meaningless once a generation is finished.
PLAIN_FIELDS = (
    "prompt", "negative_prompt", "visibility", "moderation", "moderation_reason", "status",
    "failure_reason", "failure_detail", "failure_code", "attempts", "claims", "width",
    "height", "format", "byte_size", "sha256", "placeholder_color", "endpoint_label",
    "endpoint_url",
)  # fmt: skip
TIME_FIELDS = ("moderated_at", "created_at", "queued_at", "started_at", "finished_at")
# Where each file field's names live (its upload_to), checked on import.
FILE_FOLDERS = {
    "original": "originals/",
    "thumbnail": "thumbnails/",
    "thumbnail_2x": "thumbnails/",
    "preview_image": "previews/",
}
_SAFE_NAME = re.compile(r"^[a-z_]+/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_PUBLIC_ID = re.compile(r"^[a-z0-9]{1,16}$")

# A progress bar factory: (total, description) -> an object with update(n) and close().
Progress = Callable[[int, str], Any]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(total: int, desc: str) -> _NoBar:
    return _NoBar()


class ArchiveError(Exception):
    """The archive as a whole cannot be read or written (not one row's problem)."""


@dataclass
class ExportResult:
    exported: int = 0
    unfinished: int = 0  # queued or running: not exported
    errors: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    created: int = 0
    present: int = 0  # a generation with that public id exists already: left as it is
    users_created: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --- Export ---------------------------------------------------------------------------------


def export_gallery(
    path: str | os.PathLike, *, owner=None, progress: Progress = _no_progress
) -> ExportResult:
    """Write the finished generations (of `owner`, or everyone's) to a zip at `path`. The zip
    is written beside it under a temporary name and renamed once complete. A row whose file
    is missing or does not match its checksum is reported and left out."""
    path = Path(path)
    rows = Generation.objects.all()
    if owner is not None:
        rows = rows.filter(owner=owner)
    result = ExportResult(unfinished=rows.exclude(status__in=FINISHED).count())
    rows = rows.filter(status__in=FINISHED).select_related("owner", "moderated_by", "source")
    bar = progress(rows.count(), "Exporting")
    partial = path.with_name(path.name + ".partial")
    try:
        with (
            tempfile.TemporaryFile("w+b") as manifest,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as zf,
        ):
            last = 0
            while batch := list(rows.filter(pk__gt=last).order_by("pk")[:BATCH]):
                for item in batch:
                    try:
                        files = _export_files(zf, item)
                    except (OSError, ArchiveError) as exc:
                        result.errors.append(f"{item.public_id}: {exc}")
                    else:
                        record = _row_to_record(item, files)
                        manifest.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
                        result.exported += 1
                    bar.update(1)
                last = batch[-1].pk
            manifest.seek(0)
            info = zipfile.ZipInfo(MANIFEST, date_time=_zip_time(timezone.now()))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as out:
                _copy(manifest, out)
            header = {
                "format": FORMAT,
                "version": VERSION,
                "exported_at": timezone.now().isoformat(),
                "generations": result.exported,
                "owner": owner.get_username() if owner is not None else None,
            }
            zf.writestr(HEADER, json.dumps(header, indent=2) + "\n", zipfile.ZIP_DEFLATED)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    return result


def _export_files(zf: zipfile.ZipFile, item: Generation) -> dict[str, dict[str, str]]:
    """Copy the row's files into the zip under their storage names; their names and sha256."""
    files = {}
    for name in Generation.FILE_FIELDS:
        stored = getattr(item, name)
        if not stored:
            continue
        info = zipfile.ZipInfo(stored.name, date_time=_zip_time(item.created_at))
        digest = hashlib.sha256()
        # Images are compressed already: stored as they are, no time spent deflating.
        with default_storage.open(stored.name, "rb") as src, zf.open(info, "w") as out:
            _copy(src, out, digest)
        files[name] = {"name": stored.name, "sha256": digest.hexdigest()}
    original = files.get("original")
    if original and original["sha256"] != item.sha256:
        # Left in the zip but not in the manifest: an import never reads it.
        raise ArchiveError("the stored original does not match its checksum; not exported")
    return files


def _row_to_record(item: Generation, files: dict) -> dict:
    record: dict[str, Any] = {"public_id": item.public_id}
    for name in PLAIN_FIELDS:
        record[name] = getattr(item, name)
    record["owner"] = _user_record(item.owner)
    record["moderated_by"] = _user_record(item.moderated_by)
    record["source"] = item.source.public_id if item.source else None
    for name in TIME_FIELDS:
        value = getattr(item, name)
        record[name] = value.isoformat() if value else None
    record["files"] = files
    return record


def _user_record(user) -> dict | None:
    if user is None:
        return None
    return {"username": user.get_username(), "email": user.email}


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    return max(moment.utctimetuple()[:6], (1980, 1, 1, 0, 0, 0))


def _copy(src: IO[bytes], out: IO[bytes], digest: Any = None) -> None:
    while chunk := src.read(CHUNK):
        if digest is not None:
            digest.update(chunk)
        out.write(chunk)


# --- Import ---------------------------------------------------------------------------------


def import_gallery(path: str | os.PathLike, *, progress: Progress = _no_progress) -> ImportResult:
    """Recreate the generations of an export, with their files and owners.

    Keyed on public_id: a generation that exists already is left untouched, so importing
    twice changes nothing. For each new row, every file is checked against the manifest's
    sha256 before anything of the row is written; the files are written, then the row is
    created; if the row cannot be created its files are removed. A bad row is reported and
    skipped, the others go on. Owners and moderators are matched by username; missing ones
    are created with the exported email and no usable password."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveError(f"Not a readable zip file: {exc}") from exc
    with zf:
        header = _read_header(zf)
        result = ImportResult()
        users: dict[str, Any] = {}  # by username: one lookup per user, not per row
        bar = progress(int(header.get("generations") or 0), "Importing")
        try:
            with zf.open(MANIFEST) as raw:
                for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), 1):
                    if line.strip():
                        _import_line(zf, line, number, result, users)
                    bar.update(1)
        finally:
            bar.close()
    return result


def _read_header(zf: zipfile.ZipFile) -> dict:
    try:
        header = json.loads(zf.read(HEADER))
        zf.getinfo(MANIFEST)
    except (KeyError, ValueError) as exc:
        raise ArchiveError(f"Not a gallery export (no {HEADER} or {MANIFEST}).") from exc
    if header.get("format") != FORMAT:
        raise ArchiveError("Not a gallery export (unknown format).")
    if header.get("version") != VERSION:
        raise ArchiveError(f"Export version {header.get('version')} is not supported.")
    return header


def _import_line(
    zf: zipfile.ZipFile, line: str, number: int, result: ImportResult, users: dict
) -> None:
    try:
        record = json.loads(line)
        public_id = record.get("public_id") if isinstance(record, dict) else None
        if not isinstance(public_id, str) or not _PUBLIC_ID.match(public_id):
            raise ValidationError("no valid public_id")
    except (ValueError, ValidationError) as exc:
        result.errors.append(f"manifest line {number}: {_message(exc)}")
        return
    if record.get("status") not in FINISHED:
        result.errors.append(f"{public_id}: only finished generations can be imported")
        return
    if Generation.objects.filter(public_id=public_id).exists():
        result.present += 1
        return
    staged: dict[str, tuple[str, IO[bytes]]] = {}
    written: list[str] = []
    try:
        staged = _stage_files(zf, record)
        for wanted, handle in staged.values():
            # An empty target has no file of that name; if one is there (left by an
            # interrupted run), storage picks a free name and the row records that one.
            written.append(default_storage.save(wanted, File(handle, name=wanted)))
        names = dict(zip(staged, written, strict=True))
        created_users = _create_row(record, names, users)
    except IntegrityError as exc:
        delete_files(written)
        if Generation.objects.filter(public_id=public_id).exists():
            result.present += 1  # imported meanwhile by another run: that row stands
        else:
            result.errors.append(f"{public_id}: refused by the database: {exc}")
        return
    except (ValidationError, ValueError, TypeError, KeyError, OSError, ArchiveError) as exc:
        delete_files(written)
        result.errors.append(f"{public_id}: {_message(exc)}")
        return
    except BaseException:
        delete_files(written)
        raise
    finally:
        for _, handle in staged.values():
            handle.close()
    result.created += 1
    result.users_created.extend(created_users)


def _stage_files(zf: zipfile.ZipFile, record: dict) -> dict[str, tuple[str, IO[bytes]]]:
    """Copy each of the row's files out of the zip into a spooled temporary file, checking
    its name and sha256. Raises ArchiveError before anything is written to storage."""
    files = record.get("files") or {}
    if not isinstance(files, dict) or set(files) - set(FILE_FOLDERS):
        raise ArchiveError("unknown entries in its files")
    staged: dict[str, tuple[str, IO[bytes]]] = {}
    try:
        for field_name, entry in files.items():
            if not isinstance(entry, dict):
                raise ArchiveError(f"a malformed entry for its {field_name}")
            name, expected = entry.get("name"), entry.get("sha256")
            if not (
                isinstance(name, str)
                and _SAFE_NAME.match(name)
                and name.startswith(FILE_FOLDERS[field_name])
            ):
                raise ArchiveError(f"unsafe or unexpected file name {name!r}")
            if field_name == "original" and expected != record.get("sha256"):
                raise ArchiveError("the original's checksum differs from the row's")
            handle = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (caller closes)
            staged[field_name] = (name, handle)
            digest = hashlib.sha256()
            try:
                with zf.open(name) as src:
                    _copy(src, handle, digest)
            except KeyError:
                raise ArchiveError(f"{name} is missing from the zip") from None
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise ArchiveError(f"{name} cannot be read from the zip: {exc}") from exc
            if digest.hexdigest() != expected:
                raise ArchiveError(f"{name} does not match its sha256: refused")
            handle.seek(0)
    except BaseException:
        for _, spool in staged.values():
            spool.close()
        raise
    return staged


def _create_row(record: dict, names: dict[str, str], users: dict) -> list[str]:
    """Create the generation (and any missing users) in one transaction. Returns the
    usernames created. `users` caches users by username across rows; those created here
    leave it again if the transaction rolls back."""
    created: list[str] = []
    try:
        _insert_row(record, names, users, created)
    except BaseException:
        for username in created:
            users.pop(username, None)
        raise
    return created


def _insert_row(record: dict, names: dict[str, str], users: dict, created: list[str]) -> None:
    with transaction.atomic():
        item = Generation(public_id=record["public_id"])
        for name in PLAIN_FIELDS:
            value = record.get(name)
            model_field = Generation._meta.get_field(name)
            default = model_field.get_default() if isinstance(model_field, Field) else None
            setattr(item, name, default if value is None and default is not None else value)
        for name in TIME_FIELDS:
            setattr(item, name, _parse_time(record.get(name)))
        for name, stored in names.items():
            setattr(item, name, stored)
        item.owner = _user(record.get("owner"), users, created)
        item.moderated_by = _user(record.get("moderated_by"), users, created)
        source = record.get("source")
        if source:
            # Linked when the source is here (exported earlier: sources come first).
            item.source = Generation.objects.filter(public_id=source).first()
        # Field values are checked here; the check constraints by the database on insert
        # (validating them in Python costs a third of the import's time).
        item.full_clean(
            exclude=["owner", "moderated_by", "source"],
            validate_unique=False,
            validate_constraints=False,
        )
        created_at = item.created_at
        item.save(force_insert=True)
        # created_at is auto_now_add: save() stamped now, so put the exported time back.
        Generation.objects.filter(pk=item.pk).update(created_at=created_at)


def _user(entry: Any, users: dict, created: list[str]):
    """The user of that username (from `users`, else the database); created, with no
    usable password and no staff rights, if missing."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
        raise ValidationError("a user entry without a username")
    username = entry["username"]
    if username in users:
        return users[username]
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        user = User(**{User.USERNAME_FIELD: username}, email=entry.get("email") or "")
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        created.append(username)
    users[username] = user
    return user


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if timezone.is_naive(moment):
        raise ValidationError(f"a time without a time zone: {value!r}")
    return moment


def _message(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
