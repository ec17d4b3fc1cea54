"""Fail when a French or German catalog lacks a translation, has a fuzzy one, or is out of
date with the source (make lint). The source's strings are extracted afresh with Django's
makemessages into a copy of the project, and their msgids compared with the committed ones.

Usage: python scripts/check_translations.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("fr", "de")
DOMAINS = ("django", "djangojs")
# What makemessages reads: the same folders `make messages` does (its ignores keep the rest out).
SOURCES = ("accounts", "config", "core", "gallery", "templates", "static")


def entries(po: polib.POFile) -> set[tuple[str | None, str]]:
    return {(e.msgctxt, e.msgid) for e in po if not e.obsolete}


def problems_in(path: Path) -> list[str]:
    po = polib.pofile(str(path))
    found = []
    for entry in po:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            found.append(f"{path.relative_to(ROOT)}: fuzzy: {entry.msgid!r}")
        elif not entry.translated():
            found.append(f"{path.relative_to(ROOT)}: untranslated: {entry.msgid!r}")
    return found


def extracted(tmp: Path) -> None:
    """makemessages into a copy of the sources, so the working tree is never touched."""
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp / "manage.py")
    for locale in LOCALES:
        (tmp / "locale" / locale / "LC_MESSAGES").mkdir(parents=True)
    env = dict(os.environ, GALLERY_ENV_FILE="", SECRET_KEY="lint-only-" + "x" * 40)
    for domain in DOMAINS:
        command = [sys.executable, "manage.py", "makemessages", "--domain", domain]
        command += [f"--locale={lo}" for lo in LOCALES]
        command += ["--no-location", "--ignore=static/gallery/vendor"]
        subprocess.run(command, cwd=tmp, env=env, check=True, capture_output=True)  # noqa: S603


def main() -> int:
    if shutil.which("xgettext") is None:
        print("GNU gettext is needed to extract the strings (apt-get install gettext)")
        return 2
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        extracted(tmp)
        for locale in LOCALES:
            for domain in DOMAINS:
                committed = ROOT / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
                fresh = tmp / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
                wanted = entries(polib.pofile(str(fresh))) if fresh.exists() else set()
                if not committed.exists():
                    if wanted:
                        problems.append(f"{committed.relative_to(ROOT)} is missing")
                    continue
                have = entries(polib.pofile(str(committed)))
                for _ctxt, msgid in sorted(wanted - have, key=str):
                    problems.append(f"{committed.relative_to(ROOT)}: not in the catalog: {msgid!r}")
                for _ctxt, msgid in sorted(have - wanted, key=str):
                    problems.append(
                        f"{committed.relative_to(ROOT)}: no longer in the source: {msgid!r}"
                    )
                problems += problems_in(committed)
                mo = committed.with_suffix(".mo")
                if not mo.exists() or mo.stat().st_mtime < committed.stat().st_mtime - 1:
                    problems.append(
                        f"{mo.relative_to(ROOT)} is missing or older (make compilemessages)"
                    )
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s): make messages, translate, make compilemessages")
        return 1
    print("Translations: French and German complete and up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
