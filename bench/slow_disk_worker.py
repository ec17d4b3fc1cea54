"""`manage.py gallery_worker ...` on a slow disk: each file the media storage writes takes
SLOW_DISK_SECONDS (default 1) longer, so that a bench can kill the worker while it is storing
an image (between its first file and its commit) instead of racing a few milliseconds.

    python bench/slow_disk_worker.py gallery_worker --no-reload
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.files.storage import FileSystemStorage
from django.core.management import execute_from_command_line

_save = FileSystemStorage._save


def _slow_save(self, name, content):
    saved = _save(self, name, content)
    time.sleep(float(os.environ.get("SLOW_DISK_SECONDS", "1")))
    return saved


FileSystemStorage._save = _slow_save

if __name__ == "__main__":
    execute_from_command_line(["manage.py", *sys.argv[1:]])
