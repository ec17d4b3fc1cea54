"""Test settings: the real settings, minus the developer's .env and the static manifest."""

import os
import tempfile
from pathlib import Path

os.environ["GALLERY_ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "test-only-key-" + "x" * 40)
# The image scan is off unless a test turns it on (tests/test_scan.py): with the extra
# installed, every test image would otherwise go through the model. Set in the environment
# so that worker processes started by tests inherit it.
os.environ.setdefault("GALLERY_SCAN", "off")

from config.settings import *  # noqa: F403
from config.settings import DATABASES, STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests sleep through no backoff; the pipeline tests pass their own clock.
GALLERY_RETRY_BASE_DELAY = 0.0
GALLERY_RETRY_MAX_DELAY = 0.0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:": the browser test's live server, worker and test threads each
    # have a connection, and a shared-cache memory database fails them with "database schema
    # is locked" where a file in WAL mode just waits (busy timeout), as in production.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"sdxl-gallery-test-{os.getpid()}.sqlite3")
    }
else:
    # One test database per run, so that runs side by side on one server do not collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_sdxl_gallery_{os.getpid()}"}
# The fast path's access stamp (gallery/services/media_cache.py): not in the checkout's data dir.
GALLERY_MEDIA_STAMP = os.path.join(tempfile.gettempdir(), f"sdxl-gallery-test-{os.getpid()}.stamp")
GALLERY_PAGE_STAMP = os.path.join(tempfile.gettempdir(), f"sdxl-gallery-test-{os.getpid()}.pages")
# Static files straight from the source folders: no collectstatic before a test run.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# One signing chain per test run, made on first use, outside the repository's data folder.
GALLERY_C2PA_DIR = Path(tempfile.gettempdir()) / f"sdxl-gallery-test-c2pa-{os.getpid()}"
