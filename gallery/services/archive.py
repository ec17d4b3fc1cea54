"""A portable archive of the gallery: a zip of the image files plus a JSON Lines manifest
(`manage.py export_gallery` / `import_gallery`).

Layout of the zip:
  export.json      {"format": "sdxl-gallery-export", "version": 1, "generations": N, ...}
  manifest.jsonl   one JSON object per generation (see `_row_to_record`)
  originals/...    every file under its storage name
  thumbnails/...
  previews/...

Only finished generations (succeeded or failed) are exported: queued and running ones
belong to this installation's queue. The thumbnails and previews travel too (other tools may
want them), but an import trusts nothing in the zip: it stores only originals that pass the
endpoint's own image check, under names it makes itself, and makes their thumbnails and
preview again (see "Import" below).

Both directions stream: one row's files at a time, the manifest read line by line (twice on
import: checked whole, then imported), and the table read in keyset batches. What grows is
zipfile's in-memory directory of the archive, about 3 KB per image (measured: 120 MB peak for
20,000 images, so ~360 MB for 100,000).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import secrets
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.db.models import Field
from django.utils import timezone

from gallery.models import Generation, StylePreset
from gallery.services import images, similarity, storage
from gallery.services.storage import delete_files

FORMAT = "sdxl-gallery-export"
VERSION = 1
MANIFEST = "manifest.jsonl"
HEADER = "export.json"
BATCH = 500
CHUNK = 1024 * 1024

FINISHED = (Generation.Status.SUCCEEDED, Generation.Status.FAILED)
# Copied as they are. Left out: the id and foreign keys (written as usernames and public ids),
# and the queue's bookkeeping of the exporting installation (claim token, lease, task id,
# status note), which is blank or meaningless once a generation is finished.
PLAIN_FIELDS = (
    "prompt", "negative_prompt", "visibility", "moderation", "moderation_reason", "status",
    "failure_reason", "failure_detail", "failure_code", "attempts", "claims", "width",
    "height", "format", "byte_size", "sha256", "placeholder_color", "endpoint_label",
    "endpoint_url",
    # The studio's: the style's name and what the user typed (`prompt` is what was sent).
    # Archives made before them have none and import with them blank, as rows without a
    # style are.
    "preset_name", "typed_prompt", "typed_negative_prompt",
)  # fmt: skip
TIME_FIELDS = ("moderated_at", "created_at", "queued_at", "started_at", "finished_at")

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
#
# An archive is as untrusted as the endpoint: whoever made it may want the site to serve their
# HTML. So the manifest is checked whole, for form, before its first row is written; each
# original is read within size caps and passes the endpoint's own check (images.verify); the
# importer names the files it stores (storage.file_names) and makes the thumbnails and preview
# again from the verified original. A name in the manifest only says where to read in the zip.

MAX_LINE_BYTES = 1024 * 1024  # a manifest line: a record is a few KB, prompts included
MAX_HEADER_BYTES = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PUBLIC_ID = re.compile(r"[a-z0-9]{1,16}")
# What reading a zip entry can raise: bad data or CRC, a compression or encryption it lacks.
_ZIP_ERRORS = (
    zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError, NotImplementedError,
    RuntimeError,
)  # fmt: skip


def _json_type(field_name: str) -> type:
    model_field = Generation._meta.get_field(field_name)
    return int if isinstance(model_field, models.IntegerField) else str


# The JSON type of each plain field, from the model (null is allowed for all of them).
FIELD_TYPES = {name: _json_type(name) for name in PLAIN_FIELDS}


class TooLarge(ValueError):
    """More bytes than the limit allows."""


class _RowRefused(Exception):
    """One row cannot be imported; the others go on."""


@dataclass
class _Limits:
    file_bytes: int
    total_bytes: int
    pixels: int
    read: int = 0  # bytes of originals read from the zip so far, against total_bytes


def read_at_most(src: IO[bytes], limit: int) -> bytes:
    """All of `src`, or TooLarge as soon as it holds more than `limit` bytes: at most
    limit + 1 bytes are read, whatever the zip entry declared (a zip bomb lies)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := src.read(min(CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"more than {limit} bytes")
    return b"".join(chunks)


def import_gallery(path: str | os.PathLike, *, progress: Progress = _no_progress) -> ImportResult:
    """Recreate the generations of an export, with their files and owners.

    The header and every manifest line are checked first; a malformed one (not UTF-8, too
    long, not a JSON object, a field of the wrong type) raises ArchiveError naming the line,
    with nothing written. So do originals that add up to more than
    GALLERY_IMPORT_MAX_TOTAL_BYTES.

    Then each row, keyed on public_id: a generation that exists already is left untouched,
    so importing twice changes nothing. A new row's original is read (at most
    GALLERY_IMPORT_MAX_FILE_BYTES), checked against the manifest's sha256 and verified as an
    endpoint's answer is, before anything of the row is written; its files are written under
    names the importer makes, then the row is created; if the row cannot be created its files
    are removed. A refused row is reported and skipped, the others go on. Owners and
    moderators are matched by username; missing ones are created with the exported email and
    no usable password."""
    limits = _Limits(
        file_bytes=settings.GALLERY_IMPORT_MAX_FILE_BYTES,
        total_bytes=settings.GALLERY_IMPORT_MAX_TOTAL_BYTES,
        pixels=settings.GALLERY_MAX_IMAGE_PIXELS,
    )
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveError(f"Not a readable zip file: {exc}") from exc
    with zf:
        _read_header(zf)
        try:
            count = _check_manifest(zf, limits)
        except ArchiveError as exc:
            raise ArchiveError(f"{exc} Nothing was imported.") from exc
        result = ImportResult()
        users: dict[str, Any] = {}  # by username: one lookup per user, not per row
        bar = progress(count, "Importing")
        try:
            for _, record in _manifest(zf):
                _import_record(zf, record, limits, result, users)
                bar.update(1)
        except ArchiveError as exc:  # the zip changed since the check, or lied about sizes
            raise ArchiveError(
                f"{exc} Stopped after importing {result.created} generations."
            ) from exc
        finally:
            bar.close()
    return result


def _read_header(zf: zipfile.ZipFile) -> dict:
    try:
        info = zf.getinfo(HEADER)
        zf.getinfo(MANIFEST)
    except KeyError:
        raise ArchiveError(f"Not a gallery export (no {HEADER} or {MANIFEST}).") from None
    try:
        with zf.open(info) as src:
            header = json.loads(read_at_most(src, MAX_HEADER_BYTES))
    except TooLarge:
        raise ArchiveError(
            f"Not a gallery export ({HEADER} is longer than {MAX_HEADER_BYTES} bytes)."
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"Not a gallery export ({HEADER} is not JSON: {exc}).") from exc
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"Not a gallery export ({HEADER} cannot be read: {exc}).") from exc
    if not isinstance(header, dict):
        raise ArchiveError(f"Not a gallery export ({HEADER} is not a JSON object).")
    if header.get("format") != FORMAT:
        raise ArchiveError("Not a gallery export (unknown format).")
    if header.get("version") != VERSION:
        raise ArchiveError(
            f"Not a gallery export: version {header.get('version')!r} is not supported."
        )
    return header


def _manifest(zf: zipfile.ZipFile) -> Iterator[tuple[int, dict]]:
    """The manifest's records with their line numbers, read line by line; ArchiveError at
    the first line that is not a well-formed record (see `_malformed`)."""
    try:
        with zf.open(MANIFEST) as raw:
            number = 0
            # Binary lines, at most one byte over the cap: a huge line is never held whole.
            while line := raw.readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(line) > MAX_LINE_BYTES:
                    raise ArchiveError(
                        f"manifest line {number} is longer than {MAX_LINE_BYTES} bytes."
                    )
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise ArchiveError(f"manifest line {number} is not UTF-8.") from None
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    raise ArchiveError(f"manifest line {number} is not JSON ({exc}).") from None
                if problem := _malformed(record):
                    raise ArchiveError(f"manifest line {number}: {problem}.")
                yield number, record
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"{MANIFEST} cannot be read from the zip: {exc}") from exc


def _check_manifest(zf: zipfile.ZipFile, limits: _Limits) -> int:
    """Read the whole manifest once before anything is written: every line well-formed, and
    the originals' declared sizes within the total cap. Returns the number of records."""
    count = declared = 0
    for _, record in _manifest(zf):
        count += 1
        original = (record.get("files") or {}).get("original")
        if original is not None:
            try:
                size = zf.getinfo(original["name"]).file_size
            except KeyError:
                continue  # that row's problem, reported when it comes
            if size <= limits.file_bytes:  # larger ones are refused without being read
                declared += size
    if declared > limits.total_bytes:
        raise ArchiveError(_over_total(declared, limits))
    return count


def _over_total(size: int, limits: _Limits) -> str:
    return (
        f"The originals in this archive come to {size} bytes or more, over "
        f"GALLERY_IMPORT_MAX_TOTAL_BYTES ({limits.total_bytes})."
    )


_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number",
          float: "a number", bool: "true or false", type(None): "null"}  # fmt: skip


_EXPECTED = {int: "an integer", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _is(value: Any, expected: type) -> bool:
    return isinstance(value, expected) and not (expected is int and isinstance(value, bool))


def _malformed(record: Any) -> str | None:
    """What is wrong with the form of a manifest record (its JSON types, its public id, its
    times), in words; None if nothing. Values the database judges (choices, lengths, check
    constraints) are one row's problem, found when that row is imported."""
    if not isinstance(record, dict):
        return f"{_kind(record)}, not a JSON object"
    public_id = record.get("public_id")
    if not isinstance(public_id, str) or not _PUBLIC_ID.fullmatch(public_id):
        return "no valid public_id (1 to 16 lowercase letters and digits)"
    for name, expected in FIELD_TYPES.items():
        value = record.get(name)
        if value is not None and not _is(value, expected):
            return f"{name} is {_kind(value)}, not {_EXPECTED[expected]} or null"
    for name in TIME_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{name} is {_kind(value)}, not an ISO 8601 time or null"
        try:
            _parse_time(value)
        except (ValueError, ValidationError) as exc:
            return f"{name}: {_message(exc)}"
    for name in ("owner", "moderated_by"):
        user = record.get(name)
        if user is not None and not (
            isinstance(user, dict)
            and isinstance(user.get("username"), str)
            and isinstance(user.get("email"), str | None)
        ):
            return f"{name} is not null or an object with a username (and an email) string"
    source = record.get("source")
    if source is not None and not isinstance(source, str):
        return f"source is {_kind(source)}, not a public id or null"
    files = record.get("files")
    if files is None:
        return None
    if not isinstance(files, dict):
        return f"files is {_kind(files)}, not an object"
    if unknown := set(files) - set(Generation.FILE_FIELDS):
        return f"files has unknown entries: {', '.join(sorted(unknown))}"
    for name, entry in files.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("sha256"), str)
            and _SHA256.fullmatch(entry["sha256"])
        ):
            return f"files.{name} is not an object with a name and a sha256 (64 hex digits)"
    return None


def _import_record(
    zf: zipfile.ZipFile, record: dict, limits: _Limits, result: ImportResult, users: dict
) -> None:
    public_id = record["public_id"]
    if record.get("status") not in FINISHED:
        result.errors.append(f"{public_id}: only finished generations can be imported")
        return
    if Generation.objects.filter(public_id=public_id).exists():
        result.present += 1
        return
    written: list[str] = []
    try:
        verified: dict[str, Any] = {}
        image = _verified_original(zf, record, limits)
        if image is not None:
            for field_name, (wanted, data) in _files_for(public_id, image).items():
                # The names are new, but one may be taken (left by an interrupted run):
                # storage then picks a free name and the row records that one.
                verified[field_name] = default_storage.save(wanted, ContentFile(data))
                written.append(verified[field_name])
            verified.update(
                width=image.width,
                height=image.height,
                format=image.format,
                byte_size=len(image.data),
                sha256=image.sha256,
                placeholder_color=images.average_color(image),
                **similarity.fields_for(similarity.dhash(image.pixels)),
            )
        created_users = _create_row(record, verified, users)
    except IntegrityError as exc:
        delete_files(written)
        if Generation.objects.filter(public_id=public_id).exists():
            result.present += 1  # imported meanwhile by another run: that row stands
        else:
            result.errors.append(f"{public_id}: refused by the database: {exc}")
        return
    except (_RowRefused, ValidationError, ValueError, TypeError, KeyError, OSError) as exc:
        delete_files(written)
        result.errors.append(f"{public_id}: {_message(exc)}")
        return
    except BaseException:
        delete_files(written)
        raise
    result.created += 1
    result.users_created.extend(created_users)


def _verified_original(
    zf: zipfile.ZipFile, record: dict, limits: _Limits
) -> images.VerifiedImage | None:
    """The row's original, read within the caps, matching its sha256 and verified exactly as
    an endpoint's answer is; None if the row has none (a failure, a removed image). The
    record's size and format must be the file's. Raises _RowRefused."""
    entry = (record.get("files") or {}).get("original")
    if entry is None:
        return None
    name, expected = entry["name"], entry["sha256"]
    if expected != record.get("sha256"):
        raise _RowRefused("the original's checksum differs from the row's")
    data = _read_original(zf, name, limits)
    if hashlib.sha256(data).hexdigest() != expected:
        raise _RowRefused(f"{name} does not match its sha256: refused")
    try:
        image = images.verify(data, max_pixels=limits.pixels)
    except images.InvalidImageError as exc:
        raise _RowRefused(
            f"{name} is not an accepted image (the check every endpoint answer passes says: {exc})"
        ) from exc
    found = {"format": image.format, "width": image.width, "height": image.height,
             "byte_size": len(data)}  # fmt: skip
    for field_name, actual in found.items():
        stated = record.get(field_name)
        if stated is not None and stated != actual:
            raise _RowRefused(f"its {field_name} is {stated!r}, its original's is {actual!r}")
    return image


def _read_original(zf: zipfile.ZipFile, name: str, limits: _Limits) -> bytes:
    """The entry's bytes, if its declared size and the bytes it really holds are both
    within the per-file cap and what is left of the total."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _RowRefused(f"{name} is missing from the zip") from None
    too_large = f"{name} is larger than GALLERY_IMPORT_MAX_FILE_BYTES ({limits.file_bytes})"
    if info.file_size > limits.file_bytes:
        raise _RowRefused(too_large)
    room = limits.total_bytes - limits.read
    if info.file_size > room:
        raise ArchiveError(_over_total(limits.read + info.file_size, limits))
    cap = min(limits.file_bytes, room)
    try:
        with zf.open(info) as src:
            data = read_at_most(src, cap)
    except TooLarge:
        limits.read += cap + 1
        if cap < limits.file_bytes:
            raise ArchiveError(_over_total(limits.read, limits)) from None
        raise _RowRefused(too_large) from None
    except _ZIP_ERRORS as exc:
        raise _RowRefused(f"{name} cannot be read from the zip: {exc}") from exc
    limits.read += len(data)
    return data


def _files_for(public_id: str, image: images.VerifiedImage) -> dict[str, tuple[str, bytes]]:
    """The files to store for a verified original, by field: named as a worker names a
    claim's files (with a fresh token), the derivatives made from its pixels."""
    names = storage.file_names(public_id, secrets.token_hex(16), image.extension)
    files = {"original": (names.original, image.data)}
    for field_name, thumb, name in zip(
        ("thumbnail", "thumbnail_2x"), images.make_thumbnails(image), names.thumbnails, strict=True
    ):
        files[field_name] = (name, thumb.data)
    files["preview_image"] = (names.preview, images.make_preview(image))
    return files


def _create_row(record: dict, verified: dict[str, Any], users: dict) -> list[str]:
    """Create the generation (and any missing users) in one transaction, with the values
    in `verified` (the stored files' names, the original's size and format) over the
    record's. Returns the usernames created. `users` caches users by username across rows;
    those created here leave it again if the transaction rolls back."""
    created: list[str] = []
    try:
        _insert_row(record, verified, users, created)
    except BaseException:
        for username in created:
            users.pop(username, None)
        raise
    return created


def _insert_row(record: dict, verified: dict[str, Any], users: dict, created: list[str]) -> None:
    with transaction.atomic():
        item = Generation(public_id=record["public_id"])
        for name in PLAIN_FIELDS:
            value = record.get(name)
            model_field = Generation._meta.get_field(name)
            default = model_field.get_default() if isinstance(model_field, Field) else None
            setattr(item, name, default if value is None and default is not None else value)
        for name in TIME_FIELDS:
            setattr(item, name, _parse_time(record.get(name)))
        for name, value in verified.items():
            setattr(item, name, value)
        item.owner = _user(record.get("owner"), users, created)
        item.moderated_by = _user(record.get("moderated_by"), users, created)
        source = record.get("source")
        if source:
            # Linked when the source is here (exported earlier: sources come first).
            item.source = Generation.objects.filter(public_id=source).first()
        if item.preset_name:
            # This installation's style of that name, if it has one ("Edit prompt" offers it
            # again); the name alone is the record either way.
            item.preset = StylePreset.objects.filter(name=item.preset_name).first()
        # Field values are checked here; the check constraints by the database on insert
        # (validating them in Python costs a third of the import's time).
        item.full_clean(
            exclude=["owner", "moderated_by", "source", "preset"],
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
