"""The detail view in a real browser: lightbox, keys, downloads, stars, theme, mobile."""

import io
import re
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from gallery.models import Generation
from gallery.services import endpoint, worker
from tests.conftest import wait_for_js
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPTS = [
    "A lighthouse at night, stars over the sea",
    "Sunset over desert dunes, warm light",
    "Snowy forest at dawn, soft mist",
    "Storm clouds over a dark sea",
    "A quiet harbour in the morning",
    "Forest lake under a full moon",
]


# The pipeline's files for PROMPTS, made once per module: each test writes them to its own
# fresh media root, which keeps these tests quick.
_made: dict[str, dict] = {}


def _real_rows(client_for, media_root, owner) -> list[Generation]:
    rows = []
    for prompt in PROMPTS:
        if prompt not in _made:
            item = Generation.objects.create(
                prompt=prompt,
                negative_prompt="text, watermark",
                owner=owner,
                queued_at=timezone.now(),
            )
            policy = endpoint.RetryPolicy(max_attempts=1)
            worker.run(item.pk, client=client_for(), policy=policy)
            item.refresh_from_db()
            _made[prompt] = {
                "fields": {f: getattr(item, f) for f in COPIED},
                "files": {f: getattr(item, f).read() for f in FILES},
            }
            rows.append(item)
            continue
        for field, data in _made[prompt]["files"].items():
            path = media_root / _made[prompt]["fields"][field].name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        rows.append(_row(prompt, owner, _made[prompt]["fields"], negative_prompt="text, watermark"))
    return rows


FILES = ("original", "thumbnail", "thumbnail_2x", "preview_image")
COPIED = (*FILES, "width", "height", "format", "byte_size", "sha256", "placeholder_color")
COPIED += ("endpoint_label",)


def _row(prompt, owner, fields, **extra) -> Generation:
    return Generation.objects.create(
        prompt=prompt,
        owner=owner,
        status=Generation.Status.SUCCEEDED,
        finished_at=timezone.now(),
        **{f: (v.name if f in FILES else v) for f, v in fields.items()},
        **extra,
    )


@pytest.fixture
def site(live_server, settings, media_root, client_for, owner):
    """A gallery of 20 images (two pages of 12) with real files."""
    return build_site(live_server, settings, media_root, client_for, owner)


def build_site(live_server, settings, media_root, client_for, owner) -> str:
    """The `site` fixture's gallery, for other browser test modules."""
    settings.GALLERY_PAGE_SIZE = 12
    settings.GALLERY_STANDIN = True
    made = _real_rows(client_for, media_root, owner)
    # More rows sharing those files: enough to scroll and to need a second page.
    for n in range(20 - len(made)):
        source = made[n % len(made)]
        fields = {f: getattr(source, f) for f in COPIED}
        _row(f"{source.prompt}, variation {n + 1}", owner, fields)
    return live_server.url


def tile_ids(page) -> list[str]:
    hrefs = page.eval_on_selector_all("#grid a[data-lightbox]", "els => els.map(a => a.href)")
    return [re.search(r"/g/([a-z0-9]+)/", h).group(1) for h in hrefs]


def test_lightbox_walks_the_grid_with_arrows_and_esc_restores_the_scroll(site, page):
    ARTIFACTS.mkdir(exist_ok=True)
    # Narrow enough that the first page of 12 tiles is taller than the screen.
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(site + "/")
    ids = tile_ids(page)
    assert len(ids) == 12
    page.mouse.wheel(0, 700)
    wait_for_js(page, "window.scrollY > 300")
    tile = page.locator(f'#grid a[href="/g/{ids[6]}/"]')
    tile.scroll_into_view_if_needed()  # where a person would be when clicking it
    scroll_before = page.evaluate("window.scrollY")
    assert scroll_before > 300

    tile.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page).to_have_url(f"{site}/g/{ids[6]}/")
    expect(dialog.locator("h1.prompt")).to_be_visible()
    expect(dialog.get_by_role("button", name="Close (Esc)")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(f"{site}/g/{ids[7]}/")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{site}/g/{ids[5]}/")
    expect(dialog.locator(f"#prompt-{ids[5]}")).to_be_visible()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(site + "/")
    assert page.evaluate("window.scrollY") == scroll_before
    expect(page.locator(f'#grid a[href="/g/{ids[5]}/"]')).to_be_focused()


def test_the_lightbox_loads_the_next_page_at_the_end_of_the_grid(site, page):
    page.goto(site + "/")
    first_page = tile_ids(page)
    page.locator(f'#grid a[href="/g/{first_page[-1]}/"]').click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("ArrowRight")
    wait_for_js(page, "document.querySelectorAll('#grid a[data-lightbox]').length > 12")
    later = tile_ids(page)
    assert later[:12] == first_page
    expect(page).to_have_url(f"{site}/g/{later[12]}/")


def test_question_mark_shows_the_shortcuts(site, page):
    page.goto(site + "/")
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.get_by_text("Previous / next image")).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()


def test_detail_page_copy_star_download_and_escape(site, page, owner):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, site, "ada", "ada-password-123")
    item = Generation.objects.filter(preview_image__gt="").order_by("id").first()
    page.goto(site + item.get_absolute_url())
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("button", name="Copy prompt").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == item.prompt

    star = page.locator("#detail").get_by_role("button", name="Star")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(page.locator("#detail").get_by_role("button", name="Starred")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.evaluate("window.__sameDocument") is True  # toggled in place
    assert item.favourited_by.filter(user=owner).exists()

    with page.expect_download() as info:
        page.get_by_role("link", name="Download original").click()
    download = info.value
    assert download.suggested_filename == f"{item.public_id}.jpg"
    data = Path(download.path()).read_bytes()
    stored = item.original.read()
    with Image.open(io.BytesIO(data)) as got, Image.open(io.BytesIO(stored)) as want:
        assert got.getexif()[0x010E] == item.prompt
        assert b"text, watermark" in got.info["xmp"]
        assert got.tobytes() == want.tobytes()

    page.keyboard.press("Escape")  # back to the grid, at this image's tile
    expect(page).to_have_url(f"{site}/#t-{item.public_id}")


def test_theme_toggle_is_remembered_and_screenshots(site, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(site + "/")
    toggle = page.get_by_role("button", name="Dark theme")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")
    wait_for_js(page, "[...document.images].every(i => i.complete)")
    page.screenshot(path=ARTIFACTS / "gallery-dark.png")
    page.locator("#grid a[data-lightbox]").nth(2).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    wait_for_js(page, "document.querySelector('dialog .artwork img')?.naturalWidth > 0")
    page.evaluate("document.querySelector('dialog .artwork img').decode()")
    page.screenshot(path=ARTIFACTS / "lightbox-dark.png")

    page.get_by_role("button", name="Close (Esc)").click()
    page.get_by_role("button", name="Dark theme").click()
    page.locator("#grid a[data-lightbox]").nth(2).click()
    wait_for_js(page, "document.querySelector('dialog .artwork img')?.naturalWidth > 0")
    page.evaluate("document.querySelector('dialog .artwork img').decode()")
    page.screenshot(path=ARTIFACTS / "lightbox-light.png")


def test_mobile_layouts(site, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    wait_for_js(page, "[...document.images].slice(0, 4).every(i => i.complete)")
    page.screenshot(path=ARTIFACTS / "mobile-gallery.png")
    page.locator("#grid a[data-lightbox]").first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    wait_for_js(page, "document.querySelector('dialog .artwork img')?.naturalWidth > 0")
    page.evaluate("document.querySelector('dialog .artwork img').decode()")
    page.screenshot(path=ARTIFACTS / "mobile-lightbox.png")
    page.get_by_role("button", name="Close (Esc)").click()
    item = Generation.objects.filter(preview_image__gt="").order_by("id").first()
    page.goto(site + item.get_absolute_url())
    wait_for_js(page, "document.querySelector('.artwork img').complete")
    page.screenshot(path=ARTIFACTS / "mobile-detail.png", full_page=True)
    page.goto(site + "/history")
    page.get_by_text("Select all on this page").click()
    expect(page.get_by_text("20 selected")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "mobile-history.png")
    page.emulate_media(color_scheme="dark")
    page.goto(site + "/account/preferences")
    page.screenshot(path=ARTIFACTS / "mobile-preferences-dark.png")


def test_starring_in_the_lightbox_stars_the_tile_and_the_detail_page_looks_right(site, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    first = page.locator("#grid .tile").first
    first.locator("a[data-lightbox]").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Star").click()
    expect(dialog.get_by_role("button", name="Starred")).to_have_attribute("aria-pressed", "true")
    expect(first.get_by_role("button", name="Star")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.goto(site + Generation.objects.order_by("id").first().get_absolute_url())
    wait_for_js(page, "document.querySelector('.artwork img').naturalWidth > 0")
    page.evaluate("document.querySelector('.artwork img').decode()")
    page.screenshot(path=ARTIFACTS / "detail-light.png")
    page.locator(".danger-zone summary").click()
    expect(page.get_by_role("button", name="Delete permanently")).to_be_visible()

    owner = Generation.objects.first().owner
    Generation.objects.create(prompt="A castle in the clouds", owner=owner)
    Generation.objects.create(
        prompt="A red fox in the snow",
        owner=owner,
        status=Generation.Status.FAILED,
        failure_reason="The endpoint is busy. Gave up after 4 attempts; you can retry later.",
    )
    page.goto(site + "/history")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    page.get_by_role("checkbox", name=re.compile("^Select: ")).nth(1).check()
    expect(page.get_by_text("1 selected")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "history-light.png")
