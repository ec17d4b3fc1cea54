"""The command-line tools: generate, export_gallery / import_gallery, rebuild_thumbnails.

All in this process, through call_command; the export -> import round trip as real processes,
from one database into an empty second one, is in tests/test_cli_processes.py."""

import hashlib
import io
import json
import sys
import zipfile

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from gallery.models import BlockedTerm, Generation
from gallery.services import derivatives, endpoint, worker
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
    assert set(stored_files(fresh)) == {f.name for f in good.file_fields()}

    # The intact export, imported over that, adds the missing row only.
    out = _run("import_gallery", str(exported))
    assert "Imported 1 generations; 1 were here already" in out
    assert Generation.objects.get(public_id=bad.public_id).sha256 == bad.sha256


def test_a_zip_that_is_not_an_export_is_refused(db, media_root, tmp_path):
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("manifest.jsonl", json.dumps({"public_id": "abc"}) + "\n")
    with pytest.raises(CommandError) as raised:
        _run("import_gallery", str(junk))
    assert raised.value.returncode == 2 and "Not a gallery export" in str(raised.value)


def _with_manifest(exported, out, change) -> None:
    """Copy the zip `exported` to `out`, with `change` applied to each manifest record."""
    with zipfile.ZipFile(exported) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.jsonl":
                records = [json.loads(line) for line in data.splitlines()]
                for record in records:
                    change(record)
                data = "".join(json.dumps(r) + "\n" for r in records).encode()
            dst.writestr(info, data)


def test_an_unsafe_file_name_in_the_manifest_is_refused(db, client_for, media_root, tmp_path):
    item = _make(client_for, "a harbour")
    exported, evil = tmp_path / "export.zip", tmp_path / "evil.zip"
    _run("export_gallery", str(exported))

    def escape(record):
        record["files"]["original"]["name"] = "originals/../../escaped.jpg"

    _with_manifest(exported, evil, escape)
    Generation.objects.all().delete()
    with pytest.raises(CommandError):
        _run("import_gallery", str(evil))
    assert not Generation.objects.filter(public_id=item.public_id).exists()
    assert not list(tmp_path.rglob("escaped.jpg"))


def test_a_row_the_database_refuses_is_reported_and_its_files_removed(
    db, client_for, media_root, settings, tmp_path
):
    item = _make(client_for, "a harbour")
    exported, broken = tmp_path / "export.zip", tmp_path / "broken.zip"
    _run("export_gallery", str(exported))

    def drop_original(record):  # "succeeded" without an original breaks a check constraint
        del record["files"]["original"]

    _with_manifest(exported, broken, drop_original)
    Generation.objects.all().delete()
    settings.MEDIA_ROOT = fresh = tmp_path / "fresh-media"
    fresh.mkdir()
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_gallery", str(broken), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert f"{item.public_id}: refused by the database" in err.getvalue()
    assert not Generation.objects.exists() and stored_files(fresh) == []


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
