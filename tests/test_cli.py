"""The command-line tools: generate, export_gallery / import_gallery, rebuild_thumbnails.

All in this process, through call_command; the export -> import round trip as real processes,
from one database into an empty second one, is in tests/test_cli_processes.py."""

import hashlib
import io
import json
import re
import struct
import sys
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from gallery.models import BlockedTerm, Generation
from gallery.services import archive, derivatives, endpoint, worker
from tests.conftest import stored_files

pytestmark = pytest.mark.unit


@pytest.fixture
def cli_endpoint(settings, standin, media_root):
    """The commands' configured endpoint is the stand-in; one attempt, no retries."""
    settings.SDXL_ENDPOINT_URL = standin.url
    settings.GALLERY_ENDPOINT_CONFIGURED = True
    settings.GALLERY_MAX_ATTEMPTS = 1
    return standin


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _fields(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


# --- generate -------------------------------------------------------------------------------


def test_generate_wait_makes_the_image_for_the_only_superuser(
    db, cli_endpoint, media_root, admin_user
):
    got = _fields(_run("generate", "a red kite", "--negative", "blurry", "--wait"))
    item = Generation.objects.get(public_id=got["id"])
    assert (item.status, item.owner, item.negative_prompt) == ("succeeded", admin_user, "blurry")
    assert got["page"] == item.get_absolute_url()
    assert got["status"] == "succeeded" and got["file"] == item.original.name
    with open(got["path"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == item.sha256


def test_generate_without_wait_queues_it_for_the_named_user(db, cli_endpoint, owner, admin_user):
    got = _fields(_run("generate", "a quiet pond", "--user", "ada", "--visibility", "private"))
    item = Generation.objects.get(public_id=got["id"])
    assert (item.status, item.owner, item.visibility) == ("queued", owner, "private")
    assert got["page"] == item.get_absolute_url()


def test_generate_wait_reports_a_failure_with_exit_status_1(db, cli_endpoint, owner):
    cli_endpoint.script("401")
    with pytest.raises(CommandError) as raised:
        _run("generate", "a storm", "--user", "ada", "--wait")
    assert raised.value.returncode == 1
    assert "endpoint_auth" in str(raised.value)
    assert Generation.objects.get(prompt="a storm").status == "failed"


def test_generate_wait_with_nothing_configured_leaves_the_image_to_make_runs_workers(
    db, cli_endpoint, owner, settings
):
    """`make run` started the offline stand-in on a port only its own processes know: the
    command must not call the hosted endpoint (anonymously) instead, but wait for a worker."""
    settings.GALLERY_ENDPOINT_CONFIGURED = False
    settings.GALLERY_STANDIN = False
    settings.SDXL_ENDPOINT_URL = settings.OVH_SDXL_URL  # what such a process would call
    with pytest.raises(CommandError) as raised:
        _run("generate", "a quiet pond", "--user", "ada", "--wait", "--timeout", "0.3")
    assert raised.value.returncode == 1
    assert "is `make run` or `manage.py gallery_worker` running?" in str(raised.value)
    # Not tried here (it would have failed, unreachable): still queued, for the workers.
    assert Generation.objects.get(prompt="a quiet pond").status == "queued"


def test_generate_refusals_and_bad_input_exit_non_zero_and_store_nothing(
    db, cli_endpoint, owner, settings
):
    BlockedTerm.objects.create(term="gore", reason="violence")
    cases = [
        (["generate", "lots of gore", "--user", "ada"], 2, "violence"),
        (["generate", "   ", "--user", "ada"], 2, "Describe the image"),
        (["generate", "a cat", "--user", "nobody"], 2, "No active user"),
        (["generate", "a cat"], 2, "--user"),  # no superuser to default to
    ]
    for args, status, message in cases:
        with pytest.raises(CommandError) as raised:
            _run(*args)
        assert (raised.value.returncode, message in str(raised.value)) == (status, True), args
    settings.GALLERY_DAILY_QUOTA = 1
    _run("generate", "the first cat", "--user", "ada")
    with pytest.raises(CommandError) as raised:
        _run("generate", "the second cat", "--user", "ada")
    assert raised.value.returncode == 3 and "retry after" in str(raised.value)
    assert list(Generation.objects.values_list("prompt", flat=True)) == ["the first cat"]


# --- export -> import -----------------------------------------------------------------------


def _make(client_for, prompt: str) -> Generation:
    item = Generation.objects.create(prompt=prompt)
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    assert item.status == "succeeded"
    return item


def test_an_original_that_does_not_match_its_sha256_is_refused_and_leaves_nothing(
    db, client_for, media_root, settings, tmp_path
):
    good, bad = _make(client_for, "a good one"), _make(client_for, "a bad one")
    exported = tmp_path / "export.zip"
    _run("export_gallery", str(exported))
    # The same zip, with one byte of one original changed.
    corrupted = tmp_path / "corrupted.zip"
    with zipfile.ZipFile(exported) as src, zipfile.ZipFile(corrupted, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == bad.original.name:
                data = data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]
            out.writestr(info, data)

    # An empty database and storage.
    Generation.objects.all().delete()
    settings.MEDIA_ROOT = fresh = tmp_path / "fresh-media"
    fresh.mkdir()
    with pytest.raises(CommandError) as raised:
        call_command("import_gallery", str(corrupted), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 1
    assert list(Generation.objects.values_list("public_id", flat=True)) == [good.public_id]
    imported = Generation.objects.get()
    assert set(stored_files(fresh)) == {f.name for f in imported.file_fields()}
    assert _sha(fresh / imported.original.name) == good.sha256

    # The intact export, imported over that, adds the missing row only.
    out = _run("import_gallery", str(exported))
    assert "Imported 1 generations; 1 were here already" in out
    assert Generation.objects.get(public_id=bad.public_id).sha256 == bad.sha256


def _header(**changes) -> bytes:
    return json.dumps({"format": "sdxl-gallery-export", "version": 1, **changes}).encode()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no export.json"),
        (b"[1]", "not a JSON object"),
        (b"{not json", "not JSON"),
        (_header(version=2), "version 2 is not supported"),
        (_header(padding="x" * 100_000), "longer than"),
    ],
    ids=["missing", "not an object", "not JSON", "unknown version", "huge"],
)
def test_a_zip_that_is_not_an_export_is_refused(db, media_root, tmp_path, header, message):
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        if header is not None:
            zf.writestr("export.json", header)
        zf.writestr("manifest.jsonl", json.dumps({"public_id": "abc"}) + "\n")
    with pytest.raises(CommandError) as raised:
        _run("import_gallery", str(junk))
    assert raised.value.returncode == 2 and "Not a gallery export" in str(raised.value)
    assert message in str(raised.value)


def _with_manifest(exported, out, change, extra: dict[str, bytes] | None = None) -> None:
    """Copy the zip `exported` to `out`, with `change` applied to each manifest record and
    the `extra` entries added."""
    with zipfile.ZipFile(exported) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.jsonl":
                records = [json.loads(line) for line in data.splitlines()]
                for record in records:
                    change(record)
                data = "".join(json.dumps(r) + "\n" for r in records).encode()
            dst.writestr(info, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)


def test_a_manifest_file_name_says_where_to_read_in_the_zip_never_where_to_store(
    db, client_for, media_root, settings, tmp_path
):
    item = _make(client_for, "a harbour")
    exported, evil = tmp_path / "export.zip", tmp_path / "evil.zip"
    _run("export_gallery", str(exported))
    unsafe = "originals/../../escaped.jpg"

    def escape(record):
        record["files"]["original"]["name"] = unsafe

    _with_manifest(exported, evil, escape, {unsafe: (media_root / item.original.name).read_bytes()})
    Generation.objects.all().delete()
    settings.MEDIA_ROOT = fresh = tmp_path / "fresh-media"
    fresh.mkdir()
    _run("import_gallery", str(evil))
    imported = Generation.objects.get(public_id=item.public_id)
    assert _importers_name(imported.original.name, item.public_id, item.format)
    assert _sha(fresh / imported.original.name) == item.sha256
    assert not list(tmp_path.rglob("escaped.jpg"))


def _without_original(record):  # "succeeded" without an original breaks a check constraint
    del record["files"]["original"]


def _failed_without_reason(record):  # so does "failed" without a reason: files are written
    record.update(status="failed", failure_reason="")


@pytest.mark.parametrize("change", [_without_original, _failed_without_reason])
def test_a_row_the_database_refuses_is_reported_and_its_files_removed(
    db, client_for, media_root, settings, tmp_path, change
):
    item = _make(client_for, "a harbour")
    exported, broken = tmp_path / "export.zip", tmp_path / "broken.zip"
    _run("export_gallery", str(exported))
    _with_manifest(exported, broken, change)
    Generation.objects.all().delete()
    settings.MEDIA_ROOT = fresh = tmp_path / "fresh-media"
    fresh.mkdir()
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_gallery", str(broken), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert f"{item.public_id}: refused by the database" in err.getvalue()
    assert not Generation.objects.exists() and stored_files(fresh) == []


# --- import: an archive is as untrusted as the endpoint -------------------------------------
#
# Hand-made archives, as someone who wants the site to serve their file would write them.


def _sha(path_or_bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return hashlib.sha256(data).hexdigest()


def _image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    img = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "teal")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _record(public_id: str, name: str, data: bytes, **changes) -> dict:
    """A finished generation's manifest record whose original is `data`, stored in the zip
    under `name`, with the size, format and checksums of those bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            (width, height), fmt = img.size, img.format
    except OSError:  # not an image: what its maker claims it is
        (width, height), fmt = (64, 48), "PNG"
    record = {
        "public_id": public_id,
        "prompt": f"the picture {public_id}",
        "owner": {"username": "ada", "email": "ada@example.org"},
        "visibility": "public",
        "moderation": "visible",
        "status": "succeeded",
        "width": width,
        "height": height,
        "format": fmt,
        "byte_size": len(data),
        "sha256": _sha(data),
        "placeholder_color": "#000000",
        "created_at": "2025-01-02T03:04:05+00:00",
        "finished_at": "2025-01-02T03:04:09+00:00",
        "files": {"original": {"name": name, "sha256": _sha(data)}},
    }
    record.update(changes)
    return record


def _archive(path, lines: list, files: dict[str, bytes]):
    """An export zip: `lines` are manifest records (dicts) or raw lines (bytes)."""
    manifest = b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export.json", _header(generations=len(lines)))
        zf.writestr("manifest.jsonl", manifest, zipfile.ZIP_DEFLATED)
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _import(path) -> tuple[int, str]:
    """Run import_gallery: its exit status, and what it said on stderr and in its error."""
    err = io.StringIO()
    try:
        call_command("import_gallery", str(path), stdout=io.StringIO(), stderr=err)
    except CommandError as exc:
        return exc.returncode, err.getvalue() + str(exc)
    return 0, err.getvalue()


def _importers_name(name: str, public_id: str, fmt: str, kind: str = "originals") -> bool:
    """`name` is the one the importer picks (storage.file_names), not one from the zip."""
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    stem = rf"{public_id[:2]}/{public_id}-[0-9a-f]{{10}}"
    return bool(re.fullmatch(rf"{kind}/{stem}(-\d+)?\.{ext}", name))


GOOD = _image()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("originals/ev/evil1.html", b"<!doctype html><script>alert(document.cookie)</script>"),
        ("originals/ev/evil1.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("originals/ev/evil1.png", b"alert(document.cookie)"),
        ("originals/ev/evil1.tiff", _image("TIFF")),  # an image, but not one an endpoint may send
        ("originals/ev/evil1.png", _image()[:-40]),  # cut short
    ],
    ids=["html", "svg", "script", "tiff", "truncated"],
)
def test_a_file_that_is_not_an_accepted_image_is_refused_despite_a_matching_sha256(
    db, media_root, tmp_path, name, data
):
    path = _archive(
        tmp_path / "in.zip",
        [_record("good1", "originals/go/good1.png", GOOD), _record("evil1", name, data)],
        {"originals/go/good1.png": GOOD, name: data},
    )
    status, said = _import(path)
    assert status == 1 and "evil1: " in said and "not an accepted image" in said
    assert list(Generation.objects.values_list("public_id", flat=True)) == ["good1"]
    # The other row imported; of the refused one, nothing.
    good = Generation.objects.get()
    assert stored_files(media_root) == sorted(f.name for f in good.file_fields())


def test_an_image_is_stored_under_the_importers_name_and_its_derivatives_made_from_it(
    db, media_root, tmp_path
):
    script = b"<script>alert(document.cookie)</script>"
    record = _record("renamed1", "originals/re/renamed1.html", GOOD)
    # The archive's thumbnail is a script: it is never read, the importer makes its own.
    record["files"]["thumbnail"] = {"name": "thumbnails/re/renamed1.html", "sha256": _sha(script)}
    path = _archive(
        tmp_path / "in.zip",
        [record],
        {"originals/re/renamed1.html": GOOD, "thumbnails/re/renamed1.html": script},
    )
    assert _import(path) == (0, "")
    item = Generation.objects.get(public_id="renamed1")
    assert _importers_name(item.original.name, "renamed1", "PNG")
    assert (media_root / item.original.name).read_bytes() == GOOD
    assert (item.format, item.width, item.height, item.byte_size) == ("PNG", 64, 48, len(GOOD))
    for field, kind, size in [
        ("thumbnail", "thumbnails", 64),
        ("thumbnail_2x", "thumbnails", 64),
        ("preview_image", "previews", 64),
    ]:
        name = getattr(item, field).name
        assert _importers_name(name, "renamed1", "WEBP", kind), name
        with Image.open(media_root / name) as img:
            assert (img.format, max(img.size)) == ("WEBP", size)
    assert item.placeholder_color == "#008080"  # teal, measured, not the manifest's #000000
    assert stored_files(media_root) == sorted(f.name for f in item.file_fields())
    assert not any(script in p.read_bytes() for p in media_root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "changes",
    [{"format": "JPEG"}, {"width": 1024}, {"height": 1}, {"byte_size": 5}],
    ids=["format", "width", "height", "byte_size"],
)
def test_a_row_that_disagrees_with_its_verified_original_is_refused(
    db, media_root, tmp_path, changes
):
    path = _archive(
        tmp_path / "in.zip",
        [_record("liar1", "originals/li/liar1.png", GOOD, **changes)],
        {"originals/li/liar1.png": GOOD},
    )
    status, said = _import(path)
    assert status == 1 and "liar1: " in said and next(iter(changes)) in said
    assert not Generation.objects.exists() and stored_files(media_root) == []


def test_an_original_over_the_per_file_cap_is_refused_and_the_others_imported(
    db, media_root, tmp_path, settings
):
    big = _image(size=(256, 256), noise=True)
    settings.GALLERY_IMPORT_MAX_FILE_BYTES = len(big) - 1
    assert len(GOOD) < len(big)
    path = _archive(
        tmp_path / "in.zip",
        [_record("small1", "originals/sm/small1.png", GOOD),
         _record("big1", "originals/bi/big1.png", big)],
        {"originals/sm/small1.png": GOOD, "originals/bi/big1.png": big},
    )  # fmt: skip
    status, said = _import(path)
    assert status == 1 and "big1: " in said and "GALLERY_IMPORT_MAX_FILE_BYTES" in said
    small = Generation.objects.get()
    assert small.public_id == "small1"
    assert stored_files(media_root) == sorted(f.name for f in small.file_fields())


def test_originals_over_the_total_cap_stop_the_import_before_anything_is_written(
    db, media_root, tmp_path, settings
):
    other = _image(size=(32, 32))
    settings.GALLERY_IMPORT_MAX_TOTAL_BYTES = len(GOOD) + len(other) - 1
    path = _archive(
        tmp_path / "in.zip",
        [_record("one1", "originals/on/one1.png", GOOD),
         _record("two2", "originals/tw/two2.png", other)],
        {"originals/on/one1.png": GOOD, "originals/tw/two2.png": other},
    )  # fmt: skip
    status, said = _import(path)
    assert status == 2 and "GALLERY_IMPORT_MAX_TOTAL_BYTES" in said
    assert not Generation.objects.exists() and stored_files(media_root) == []
    assert not get_user_model().objects.exists()


def _lie_about_size(path, name: str, size: int) -> None:
    """Rewrite the zip at `path` so that entry `name` declares `size` uncompressed bytes (in
    its local header and the central directory), whatever it really holds."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        name_at = 30 if signature == b"PK\x03\x04" else 46
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                data[start + size_at : start + size_at + 4] = struct.pack("<I", size)
            start += 4
    path.write_bytes(bytes(data))


def test_a_zip_bomb_that_lies_about_its_size_is_refused(db, media_root, tmp_path):
    bomb = GOOD + b"\0" * (64 * 1024 * 1024)  # 64 MiB, deflated to about 64 KiB
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export.json", _header())
        zf.writestr("manifest.jsonl", json.dumps(_record("bomb1", "originals/bo/b.png", bomb)))
        zf.writestr("originals/bo/b.png", bomb, zipfile.ZIP_DEFLATED)
    _lie_about_size(path, "originals/bo/b.png", len(GOOD))
    status, said = _import(path)
    assert status == 1 and "bomb1: " in said
    assert not Generation.objects.exists() and stored_files(media_root) == []


class _Endless(io.RawIOBase):
    """A zip entry that never ends, counting the bytes handed out."""

    given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"\0" * len(buffer)
        self.given += len(buffer)
        return len(buffer)


def test_reading_an_entry_stops_at_the_cap_whatever_it_declared():
    endless = _Endless()
    with pytest.raises(archive.TooLarge):
        archive.read_at_most(endless, 3 * 1024 * 1024 + 5)
    assert endless.given <= 3 * 1024 * 1024 + 6


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b'{"public_id": ', "not JSON"),
        (b'{"public_id": "bad1", "prompt": "caf\xe9"}', "not UTF-8"),
        (b'{"public_id": "big1", "prompt": "' + b"x" * (2 * 1024 * 1024) + b'"}', "longer than"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # nested past the parser's depth
        ({"prompt": "no id"}, "public_id"),
        ({"public_id": "../../etc"}, "public_id"),
        (_record("bad1", "originals/x.png", GOOD, width="64"), "width"),
        (_record("bad1", "originals/x.png", GOOD, attempts=True), "attempts"),
        (_record("bad1", "originals/x.png", GOOD, prompt=5), "prompt"),
        (_record("bad1", "originals/x.png", GOOD, owner="ada"), "owner"),
        (_record("bad1", "originals/x.png", GOOD, owner={"email": "x@example.org"}), "owner"),
        (_record("bad1", "originals/x.png", GOOD, source=7), "source"),
        (_record("bad1", "originals/x.png", GOOD, created_at="yesterday"), "created_at"),
        (_record("bad1", "originals/x.png", GOOD, created_at="2025-01-02T03:04:05"), "created_at"),
        (_record("bad1", "originals/x.png", GOOD, files=[]), "files"),
        (_record("bad1", "originals/x.png", GOOD, files={"script": {}}), "files"),
        (
            _record("bad1", "x", GOOD, files={"original": {"name": 5, "sha256": _sha(GOOD)}}),
            "original",
        ),
        (
            _record("bad1", "x", GOOD, files={"original": {"name": "x", "sha256": "abc"}}),
            "sha256",
        ),
    ],
    ids=[
        "a list", "a string", "not JSON", "bad UTF-8", "huge line", "deep nesting",
        "no public_id", "unsafe public_id", "width a string", "attempts a boolean",
        "prompt a number", "owner a string", "owner without username", "source a number",
        "time not ISO", "time without zone", "files a list", "unknown file kind",
        "file name a number", "sha256 not hex",
    ],
)  # fmt: skip
def test_a_malformed_manifest_stops_the_import_naming_the_line_and_writes_nothing(
    db, media_root, tmp_path, line, message
):
    # A good row first: a manifest is checked whole before its first row is written.
    path = _archive(
        tmp_path / "in.zip",
        [_record("good1", "originals/go/good1.png", GOOD), b"", line],
        {"originals/go/good1.png": GOOD, "originals/x.png": GOOD},
    )
    status, said = _import(path)
    assert status == 2, said
    assert "manifest line 3" in said and message in said and "Nothing was imported" in said
    assert not Generation.objects.exists() and stored_files(media_root) == []
    assert not get_user_model().objects.exists()


# --- rebuild_thumbnails ---------------------------------------------------------------------


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (deleting replaced files), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_rebuild_thumbnails_replaces_the_files_and_removes_the_old_ones(
    db, client_for, media_root, committed
):
    items = [_make(client_for, "a harbour"), _make(client_for, "a lighthouse")]
    old = {i.pk: {f: getattr(i, f).name for f in derivatives.DERIVED_FIELDS} for i in items}
    original_bytes = {i.pk: (media_root / i.original.name).read_bytes() for i in items}

    with committed():
        out = _run("rebuild_thumbnails")
    assert "Rebuilt 2, unchanged 0, failed 0" in out
    for item in items:
        item.refresh_from_db()
        for field, size in zip(derivatives.DERIVED_FIELDS, (256, 512, 1024), strict=True):
            name = getattr(item, field).name
            assert name != old[item.pk][field]
            assert not (media_root / old[item.pk][field]).exists()
            with Image.open(media_root / name) as img:
                assert (img.format, max(img.size)) == ("WEBP", size)
        assert (media_root / item.original.name).read_bytes() == original_bytes[item.pk]
    assert len(stored_files(media_root)) == 8


def test_rebuild_missing_only_touches_only_what_is_missing(db, client_for, media_root):
    kept, broken = _make(client_for, "a harbour"), _make(client_for, "a lighthouse")
    (media_root / broken.thumbnail.name).unlink()
    Generation.objects.filter(pk=broken.pk).update(preview_image="")
    (media_root / broken.preview_image.name).unlink()

    out = _run("rebuild_thumbnails", "--missing-only")
    assert "Rebuilt 1, unchanged 1, failed 0" in out
    before_kept = [f.name for f in kept.file_fields()]
    kept.refresh_from_db()
    assert [f.name for f in kept.file_fields()] == before_kept
    fresh = Generation.objects.get(pk=broken.pk)
    assert fresh.thumbnail_2x.name == broken.thumbnail_2x.name  # was there: untouched
    assert fresh.thumbnail.name != broken.thumbnail.name
    assert (media_root / fresh.thumbnail.name).exists()
    assert (media_root / fresh.preview_image.name).exists()


def test_rebuild_of_named_ids_and_unknown_ones(db, client_for, media_root):
    one, other = _make(client_for, "a harbour"), _make(client_for, "a lighthouse")
    with pytest.raises(CommandError) as raised:
        _run("rebuild_thumbnails", "--ids", one.public_id, "nosuchid")
    assert "1 could not be rebuilt" in str(raised.value)
    assert Generation.objects.get(pk=one.pk).thumbnail.name != one.thumbnail.name
    assert Generation.objects.get(pk=other.pk).thumbnail.name == other.thumbnail.name


def test_a_row_changed_meanwhile_is_not_overwritten_and_the_new_files_go(
    db, client_for, media_root, committed
):
    item = _make(client_for, "a harbour")
    stale = Generation.objects.get(pk=item.pk)
    # Another rebuild got there first: the row no longer names the files `stale` knows.
    with committed():
        assert derivatives.rebuild_derived(Generation.objects.get(pk=item.pk))
    files_now = stored_files(media_root)
    assert derivatives.rebuild_derived(stale) == []
    assert stored_files(media_root) == files_now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("flags", "shown"), [([], True), (["--no-progress"], False), (["--verbosity", "0"], False)]
)
def test_the_progress_bar_shows_on_a_terminal_unless_asked_not_to(
    db, client_for, media_root, monkeypatch, flags, shown
):
    _make(client_for, "a harbour")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _run("rebuild_thumbnails", *flags)
    assert ("Rebuilding: 100%" in terminal.getvalue()) is shown
    assert "1/1" in terminal.getvalue() or not shown


def test_export_leaves_out_a_row_whose_file_is_missing_and_says_so(
    db, client_for, media_root, tmp_path
):
    kept, lost = _make(client_for, "a harbour"), _make(client_for, "a lighthouse")
    (media_root / lost.thumbnail.name).unlink()
    exported, err = tmp_path / "export.zip", io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("export_gallery", str(exported), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1 and lost.public_id in err.getvalue()
    with zipfile.ZipFile(exported) as zf:
        manifest = [json.loads(line) for line in zf.read("manifest.jsonl").splitlines()]
    assert [r["public_id"] for r in manifest] == [kept.public_id]


def test_a_styled_image_keeps_its_style_and_typed_prompt_and_old_archives_still_import(
    db, media_root, tmp_path
):
    from gallery.models import StylePreset

    ink = StylePreset.objects.create(name="Ink", prompt_template="{prompt}, ink")
    styled = _record(
        "styled1",
        "originals/st/styled1.png",
        GOOD,
        prompt="a heron, ink",
        negative_prompt="blur, photo",
        preset_name="Ink",
        typed_prompt="a heron",
        typed_negative_prompt="blur",
    )
    gone = _record(
        "styled2", "originals/st/styled2.png", GOOD, preset_name="Gone", typed_prompt="x"
    )
    # Made before the studio: none of its fields.
    old = _record("oldone1", "originals/ol/oldone1.png", GOOD)
    assert "preset_name" not in old and "typed_prompt" not in old
    files = {r["files"]["original"]["name"]: GOOD for r in (styled, gone, old)}
    assert _import(_archive(tmp_path / "in.zip", [styled, gone, old], files)) == (0, "")

    item = Generation.objects.get(public_id="styled1")
    assert (item.prompt, item.negative_prompt) == ("a heron, ink", "blur, photo")
    assert (item.typed_prompt, item.typed_negative_prompt) == ("a heron", "blur")
    assert (item.preset_name, item.preset) == ("Ink", ink)  # this site's style of that name
    item = Generation.objects.get(public_id="styled2")
    assert (item.preset_name, item.preset) == ("Gone", None)  # the name is the record
    item = Generation.objects.get(public_id="oldone1")
    assert (item.preset_name, item.typed_prompt, item.typed_negative_prompt, item.preset) == (
        "",
        "",
        "",
        None,
    )


def test_export_writes_the_style_and_what_was_typed(db, client_for, media_root, tmp_path):
    item = Generation.objects.create(
        prompt="a heron, ink",
        preset_name="Ink",
        typed_prompt="a heron",
        typed_negative_prompt="blur",
        queued_at=timezone.now(),
    )
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    path = tmp_path / "out.zip"
    assert archive.export_gallery(path).exported == 1
    with zipfile.ZipFile(path) as zf:
        record = json.loads(zf.read("manifest.jsonl").decode().splitlines()[0])
    assert record["preset_name"] == "Ink"
    assert (record["typed_prompt"], record["typed_negative_prompt"]) == ("a heron", "blur")
    assert record["prompt"] == "a heron, ink"
