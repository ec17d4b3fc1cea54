import io
import os
import shutil
import time

import pytest
from django.utils import timezone

from gallery.models import Generation
from gallery.services import endpoint, worker
from gallery.standin.server import StandinServer
from tests import factories


@pytest.fixture
def standin():
    """The stand-in endpoint on a free port on 127.0.0.1, with no latency."""
    server = StandinServer(("127.0.0.1", 0), hang_seconds=5).start()
    yield server
    server.stop()


@pytest.fixture
def endpoint_config(standin) -> endpoint.EndpointConfig:
    return endpoint.EndpointConfig(
        url=standin.url,
        token="",
        label="Test stand-in",
        connect_timeout=2,
        read_timeout=1.0,
        max_bytes=2 * 1024 * 1024,
        max_pixels=4096 * 4096,
    )


@pytest.fixture
def client_for(endpoint_config):
    """Build a real client against the stand-in, optionally overriding config fields."""

    def build(**overrides) -> endpoint.SDXLClient:
        fields = {**endpoint_config.__dict__, **overrides}
        return endpoint.SDXLClient(endpoint.EndpointConfig(**fields))

    return build


# --- The people (tests/factories.py) -------------------------------------------------------


@pytest.fixture
def owner():
    """The owner: "ada", a signed-up user without staff rights."""
    return factories.owner()


@pytest.fixture
def other_user():
    """Another user: "bob", signed up too."""
    return factories.other_user()


@pytest.fixture
def moderator():
    """The moderator: "mod", staff with the admin's permissions on generations."""
    return factories.moderator()


@pytest.fixture
def visitor():
    """A visitor: an anonymous browser (a test client signed in as nobody)."""
    return factories.visitor()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: the queue's snapshot, shared for two seconds,
    would otherwise carry one test's queue into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A request in French leaves French active in this thread (the middleware sets it per
    request and nothing resets it): the next test would read its messages in French."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def no_limits(settings):
    """Every limit off (quotas, images in progress, per-address rates, per-account sign-in
    delays); a test about one limit turns that one on through the returned settings."""
    settings.GALLERY_DAILY_QUOTA = 0
    settings.GALLERY_MAX_WAITING = 0
    settings.GALLERY_IP_RATES = {"signin": "0", "signup": "0", "reset": "0", "submit": "0"}
    settings.GALLERY_SIGNIN_ACCOUNT_MAX_DELAY = 0
    return settings


@pytest.fixture
def fixed_clock(monkeypatch):
    """The limits' clock stopped mid-minute, so a per-minute window never turns mid-test."""
    from datetime import UTC, datetime

    from accounts import limits

    monkeypatch.setattr(limits, "clock", lambda: datetime(2026, 3, 1, 21, 32, 30, tzinfo=UTC))


@pytest.fixture
def media_root(settings, tmp_path):
    """A fresh, empty MEDIA_ROOT for the test."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def finished(client_for, media_root) -> Generation:
    """A generation that really went through the pipeline, files and all."""
    item = Generation.objects.create(prompt="a quiet harbour", queued_at=timezone.now())
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    assert item.status == Generation.Status.SUCCEEDED
    return item


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def content_of(response) -> bytes:
    """A response's bytes, streamed or not."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def is_signed_copy(served: bytes, stored: bytes, *, by_this_process: bool = True) -> bool:
    """Whether `served` is what leaves the gallery for the stored original `stored`: the same
    pixels, with a C2PA manifest signed by this installation (the stored file never leaves).
    A server in another process has its own signer, which this one does not trust: for it,
    `by_this_process=False` asks for an intact manifest only."""
    from PIL import Image

    from gallery.services import provenance

    with Image.open(io.BytesIO(served)) as out, Image.open(io.BytesIO(stored)) as src:
        same = out.format == src.format and out.tobytes() == src.tobytes()
        fmt = out.format or ""
    wanted = {provenance.TRUSTED} if by_this_process else {provenance.TRUSTED, provenance.VALID}
    return same and served != stored and provenance.read(served, fmt).state in wanted


# --- Tiers ------------------------------------------------------------------------------------

# Every test module names its one tier in its `pytestmark` (registered in pyproject.toml),
# the heaviest that any of its tests needs:
#   unit     in-process: the code, the test database and at most the in-process stand-in
#   web      the app through Django's test client or pytest-django's live_server, in-process
#   system   real processes: manage.py, workers, the web server, `make run`, curl, `python -c`
#   browser  a real Chromium driven through Playwright
# A test that starts a process goes into a module of its own tier (the *_processes.py files)
# rather than making its neighbours system tests. `make test-fast` runs unit and web;
# `make test` runs them all.
TIERS = ("unit", "web", "system", "browser")


def _check_tiers(items) -> None:
    wrong = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"  {item.nodeid}: {sorted(tiers) or 'none'}")
    if wrong:
        raise pytest.UsageError(
            "Every test needs exactly one tier (pytest.mark.unit, web, system or browser) in its "
            "module's pytestmark:\n" + "\n".join(wrong)
        )


# --- Browser tests: Playwright driving Debian's Chromium ------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
_SKIP_REASON = "Chromium not found: install Debian's `chromium` package to run the browser tests"


def pytest_collection_modifyitems(config, items):
    _check_tiers(items)
    # Browser tests run last: Playwright's event loop stays up in the main thread for the
    # rest of the session, and Django refuses database calls beside a running loop.
    items.sort(key=lambda item: "browser" in item.keywords)
    if CHROMIUM:
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=_SKIP_REASON))


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if any(_SKIP_REASON in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_line(
            f"NOTE: browser tests were SKIPPED. {_SKIP_REASON}.", yellow=True
        )


@pytest.fixture(scope="module", autouse=True)
def _allow_sync_db_beside_playwright(request):
    # Playwright's sync API runs an event loop in the test thread; Django would then refuse
    # the test's own (synchronous) database calls. For browser test modules only, and for
    # the whole module, so that the database teardown after each test is covered too.
    marks = getattr(request.module, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    if not any(mark.name == "browser" for mark in marks):
        yield
        return
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, django_db_setup):
    # Depending on django_db_setup makes the test database outlive Playwright's event loop,
    # so its teardown is not refused as "async unsafe".
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def wait_for_js(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression until it is truthy. Playwright's own wait_for_function
    polls through eval(), which the site's Content-Security-Policy rightly refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(50)
