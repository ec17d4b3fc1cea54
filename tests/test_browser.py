"""End to end in a real browser: prompt -> live status -> image -> gallery."""

import re
import threading
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import expect

from tests.conftest import wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def worker():
    """The real django-tasks-db worker loop, in a thread of this process."""
    loop = Worker(
        queue_names=["default"],
        interval=0.1,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="browser-test",
        excluded_queue_names=[],
    )

    def run():
        try:
            loop.run()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield loop
    loop.running = False
    thread.join(10)


@pytest.fixture
def app(live_server, standin, settings, media_root, worker):
    standin.latency = 1.5  # long enough to watch the status change
    settings.SDXL_ENDPOINT_URL = standin.url
    settings.GALLERY_STANDIN = True
    return live_server.url


def sign_in(page, app: str, username: str, password: str) -> None:
    page.goto(app + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Attached rather than visible: on a phone it sits in the folded top-bar menu.
    expect(page.get_by_role("button", name="Sign out", include_hidden=True)).to_be_attached()


def test_prompt_to_live_status_to_image_in_the_gallery(app, page, owner, standin):
    standin.latency = 4.0  # still drawing once its page has opened
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, app, "ada", "ada-password-123")
    expect(page.get_by_text("No images yet")).to_be_visible()

    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("A lighthouse at night, stars over the sea")
    expect(page.get_by_text("41 / 1000")).to_be_visible()  # the live counter
    page.get_by_text("Negative prompt").first.click()
    page.get_by_label("Negative prompt").fill("people")
    page.get_by_role("button", name="Generate").click()

    # The composer stays: the new image is a live tile at the front of the grid; its page
    # shows it live too.
    tile = page.locator("#grid .tile-live").first
    expect(tile).to_be_visible()
    expect(page.get_by_text("No images yet")).to_have_count(0)
    tile.locator("a").click()
    expect(page).to_have_url(re.compile(r"/g/[a-z0-9]+/$"))
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    status = page.get_by_test_id("status")
    expect(status).to_have_text("Generating", timeout=10_000)
    expect(page.locator(".elapsed")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "generation-running.png")

    image = page.locator("figure.artwork img")
    expect(image).to_be_visible(timeout=15_000)
    expect(status).to_have_text("Done")
    assert page.evaluate("window.__sameDocument") is True
    # htmx swaps the finished card in; the preview may still be on its way (slow CI machines).
    wait_for_js(page, "document.querySelector('figure.artwork img').complete")
    assert page.evaluate("document.querySelector('figure.artwork img').naturalWidth") == 1024
    expect(page.get_by_text("Offline stand-in (not SDXL)")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "generation-done.png")

    page.get_by_role("link", name="← Back to the gallery").click()
    first_tile = page.locator(".tile img").first
    expect(first_tile).to_have_attribute("alt", "A lighthouse at night, stars over the sea")
    wait_for_js(page, "document.querySelector('.tile img').complete")
    assert page.evaluate("document.querySelector('.tile img').naturalWidth") > 0
    page.screenshot(path=ARTIFACTS / "gallery.png", full_page=True)


def top_link(page, name: str):
    """A link of the top bar, opening its menu first where a phone folds the links into it."""
    # The menu's listener starts with the page's scripts; a click before them opens nothing.
    page.wait_for_load_state("domcontentloaded")
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()
    return page.locator(".topbar").get_by_role("link", name=name, exact=True)
