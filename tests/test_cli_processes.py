"""The command-line tools run as real processes, as a person or a script runs them: the
export -> import round trip from one database into an empty second one (SQLite files, or
scratch databases on the suite's PostgreSQL server), and `manage.py issue_token` in a shell
substitution. Their in-process tests are in tests/test_cli.py and tests/test_tokens.py."""

import re
import subprocess
import sys

import pytest
from PIL import Image

from gallery.models import Generation
from tests import procs
from tests.conftest import stored_files

pytestmark = pytest.mark.system

# --- export -> import -----------------------------------------------------------------------

# Columns of the app's own bookkeeping in one installation, not carried by an export.
NOT_EXPORTED = {"id", "owner_id", "moderated_by_id", "source_id", "preset_id", "task_id"}
# Files the importer stores under names of its own (and makes again, but the original).
RENAMED = set(Generation.FILE_FIELDS)
ROWS_SQL = """
    SELECT g.*, o.username AS owner_name, o.email AS owner_email,
           m.username AS moderator_name, s.public_id AS source_public_id,
           p.name AS preset_link
    FROM gallery_generation g
    LEFT JOIN auth_user o ON o.id = g.owner_id
    LEFT JOIN auth_user m ON m.id = g.moderated_by_id
    LEFT JOIN gallery_generation s ON s.id = g.source_id
    LEFT JOIN gallery_stylepreset p ON p.id = g.preset_id
"""
SETUP = """
from django.contrib.auth.models import User
from django.utils import timezone
from gallery.models import Generation as G
User.objects.create_user("ada", "ada@example.org", "ada-password-123")
User.objects.create_user("bob", "bob@example.org", "bob-password-123")
"""
AFTER = """
from django.contrib.auth.models import User
from django.utils import timezone
from gallery.models import Generation as G
mod = User.objects.create_user("mo", "mo@example.org", "mo-password-123", is_staff=True)
G.objects.filter(prompt="a lighthouse").update(source=G.objects.get(prompt="a harbour"))
G.objects.filter(prompt="a kite").update(
    moderation="hidden", moderation_reason="off topic", moderated_by=mod,
    moderated_at=timezone.now())
# Made with a style: what was typed differs from what was sent.
from gallery.models import StylePreset
ink = StylePreset.objects.create(name="Ink", prompt_template="{prompt}")
G.objects.filter(prompt="a harbour").update(
    preset=ink, preset_name="Ink", typed_prompt="harbour", typed_negative_prompt="mist")
"""
# The importing site has a style of the same name (under another id).
DST_SETUP = """
from gallery.models import StylePreset
StylePreset.objects.create(name="Other", prompt_template="{prompt}, other")
StylePreset.objects.create(name="Ink", prompt_template="{prompt}, ink")
"""


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=procs.ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_export_then_import_into_an_empty_database_gives_identical_rows_and_files(
    tmp_path, standin
):
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    with (
        procs.scratch_database(src_dir) as src_db,
        procs.scratch_database(dst_dir) as dst_db,
    ):
        src = procs.app_env(src_db, src_dir / "media", standin.url, GALLERY_MAX_ATTEMPTS="1")
        dst = procs.app_env(dst_db, dst_dir / "media", standin.url)
        for env in (src, dst):
            procs.manage(env, "migrate", "--verbosity", "0")
        procs.manage(src, "shell", "-c", SETUP)

        # Made with the command itself, as a person would: real exit statuses.
        for args in (
            ["a harbour", "--negative", "fog", "--user", "ada"],
            ["a lighthouse", "--user", "ada", "--visibility", "private"],
            ["a kite", "--user", "bob"],
        ):
            done = _cli(src, "generate", *args, "--wait")
            assert done.returncode == 0, done.stderr
            assert "status: succeeded" in done.stdout
        standin.script("401")
        failed = _cli(src, "generate", "a storm", "--user", "ada", "--wait")
        assert failed.returncode == 1 and "failed" in failed.stderr
        queued = _cli(src, "generate", "still waiting", "--user", "ada")  # no worker runs
        assert queued.returncode == 0 and "status: queued" in queued.stdout
        procs.manage(src, "shell", "-c", AFTER)
        procs.manage(dst, "shell", "-c", DST_SETUP)

        archive = tmp_path / "gallery.zip"
        out = procs.manage(src, "export_gallery", str(archive))
        assert "Exported 4 generations" in out and "Left out 1 still queued" in out

        out = procs.manage(dst, "import_gallery", str(archive))
        assert "Imported 4 generations; 0 were here already" in out
        assert "Created 3 users without a usable password" in out

        source_rows = {r["public_id"]: r for r in procs.query(src_db, ROWS_SQL)}
        copied = {r["public_id"]: r for r in procs.query(dst_db, ROWS_SQL)}
        finished = {k: r for k, r in source_rows.items() if r["prompt"] != "still waiting"}
        assert set(copied) == set(finished)
        for public_id, row in finished.items():
            for column, value in row.items():
                if column not in NOT_EXPORTED | RENAMED:
                    assert copied[public_id][column] == value, (public_id, column)
        assert copied[_pid(copied, "a lighthouse")]["source_public_id"] == _pid(copied, "a harbour")
        assert copied[_pid(copied, "a kite")]["moderator_name"] == "mo"
        # The style's name and what was typed came along (compared above with every
        # column), and the row is linked to this site's style of that name.
        harbour = copied[_pid(copied, "a harbour")]
        assert (harbour["preset_name"], harbour["typed_prompt"]) == ("Ink", "harbour")
        assert harbour["typed_negative_prompt"] == "mist" and harbour["preset_link"] == "Ink"
        assert copied[_pid(copied, "a kite")]["preset_link"] is None

        # Byte-identical originals, thumbnails and previews made again from them, under the
        # importer's own names (a fresh token each), and nothing else.
        names = {r[f] for r in copied.values() for f in Generation.FILE_FIELDS if r[f]}
        assert len(names) == 12  # three images, four files each
        assert set(stored_files(dst_dir / "media")) == names
        for public_id, row in finished.items():
            mine = copied[public_id]
            for column in RENAMED:
                assert bool(mine[column]) == bool(row[column]), (public_id, column)
            if not row["original"]:
                continue
            assert mine["original"] != row["original"]
            assert re.fullmatch(rf"originals/{public_id[:2]}/{public_id}-[0-9a-f]{{10}}\.\w+",
                                mine["original"])  # fmt: skip
            assert (dst_dir / "media" / mine["original"]).read_bytes() == (
                src_dir / "media" / row["original"]
            ).read_bytes()
            for column in RENAMED - {"original"}:
                with Image.open(dst_dir / "media" / mine[column]) as img:
                    assert img.format == "WEBP"
        users = procs.query(dst_db, "SELECT username, email, password FROM auth_user")
        assert {(u["username"], u["email"]) for u in users} == {
            ("ada", "ada@example.org"), ("bob", "bob@example.org"), ("mo", "mo@example.org"),
        }  # fmt: skip
        assert all(u["password"].startswith("!") for u in users)  # unusable

        # Importing again changes nothing.
        before = procs.query(dst_db, "SELECT * FROM gallery_generation ORDER BY id")
        out = procs.manage(dst, "import_gallery", str(archive))
        assert "Imported 0 generations; 4 were here already" in out
        assert procs.query(dst_db, "SELECT * FROM gallery_generation ORDER BY id") == before
        assert procs.count(dst_db, "auth_user") == 3
        assert set(stored_files(dst_dir / "media")) == names


def _pid(rows: dict, prompt: str) -> str:
    return next(k for k, r in rows.items() if r["prompt"] == prompt)


# --- manage.py issue_token ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_issue_token_in_a_shell_substitution(tmp_path):
    """The real command line: `TOKEN=$(manage.py issue_token alice)` holds exactly a token."""
    with procs.scratch_database(tmp_path) as url:
        env = procs.app_env(url, tmp_path / "media", "http://127.0.0.1:9")
        procs.manage(env, "migrate", "--verbosity", "0")
        procs.manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
               "User.objects.create_user('alice')")  # fmt: skip
        script = (
            f'TOKEN=$("{sys.executable}" manage.py issue_token alice) || exit 1; '
            'printf "[%s]" "$TOKEN"; '
            f'"{sys.executable}" manage.py shell -v 0 -c "import os; from accounts import tokens; '
            "print(tokens.authenticate(os.environ['TOKEN']).user.username)\""
        )
        done = subprocess.run(
            ["bash", "-c", f"export TOKEN; {script}"], cwd=procs.ROOT, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        match = re.fullmatch(r"\[(sdxlg_[A-Za-z0-9_-]{43})\]alice\n", done.stdout)
        assert match, done.stdout
        assert match.group(1) not in done.stderr and "Issued token" in done.stderr

        refused = subprocess.run(
            [sys.executable, "manage.py", "issue_token", "bob"], cwd=procs.ROOT, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 1
        assert refused.stdout == "" and "No user named 'bob'" in refused.stderr
