"""Browsing like a photo app, in a real browser: the grid first, tile sizes, the image-first
viewer (zoom, pan, swipe, pinch, info panel, copy, drag out), phones and the keyboard."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from gallery.models import Generation
from tests.conftest import wait_for_js
from tests.test_browser import sign_in
from tests.test_browser_detail import build_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, media_root, client_for, owner):
    """A gallery of 20 images (two pages of 12) with real files, all ada's."""
    return build_site(live_server, settings, media_root, client_for, owner)


SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browse"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_PROMPT = (
    "An enormous library carved into the inside of a mountain, spiral staircases of pale "
    "stone winding up towards a skylight, thousands of books with gilded spines, reading "
    "lamps glowing amber, a cat asleep on a ladder, dust drifting through shafts of light, "
    "intricate ironwork balconies, moss creeping over the lowest shelves, cinematic, highly "
    "detailed, volumetric light, 35mm photograph, soft focus in the distance"
)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")


def images_loaded(page, selector: str = ".tile img") -> None:
    wait_for_js(
        page,
        f"[...document.querySelectorAll('{selector}')].filter(i => i.loading !== 'lazy')"
        ".every(i => i.complete)",
    )


def columns(page) -> int:
    return page.evaluate(
        "getComputedStyle(document.getElementById('grid')).gridTemplateColumns.split(' ').length"
    )


def open_viewer(page, n: int = 0):
    page.locator("#grid a[data-lightbox]").nth(n).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    wait_for_js(page, "document.querySelector('dialog .artwork img')?.naturalWidth > 0")
    wait_for_js(page, "!document.querySelector('dialog.is-loading')")
    return dialog


def stage_scale(page) -> float:
    return float(page.evaluate("document.querySelector('dialog .artwork').dataset.scale || '1'"))


# --- 1. The grid comes first -----------------------------------------------------------------


def test_signed_in_the_grid_shows_two_full_rows_and_tile_sizes_are_remembered(site, page, owner):
    mine = Generation.objects.filter(owner=owner).order_by("-id").first()
    mine.visibility = Generation.Visibility.PRIVATE
    mine.save(update_fields=["visibility"])
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    images_loaded(page)
    # Whole tiles inside the first screen, by row.
    rows = page.evaluate(
        """[...new Set([...document.querySelectorAll('#grid .tile')]
            .map(t => t.getBoundingClientRect())
            .filter(r => r.top >= 0 && r.bottom <= innerHeight)
            .map(r => Math.round(r.top)))].length"""
    )
    shot(page, "grid-1440-light")
    assert rows >= 2, f"{rows} full row(s) of tiles above the fold"
    shot(page, "grid-1440-light")

    # Own tiles carry their marks; hovering or focusing a tile shows its prompt's start.
    own = page.locator(f"#t-{mine.public_id}")
    expect(own.get_by_test_id("private-badge")).to_have_text("Private")
    others = page.locator(".tile").filter(has_not=page.get_by_test_id("private-badge"))
    assert others.count() == 19
    caption = page.locator(".tile").nth(3).locator(".tile-caption")
    expect(caption).to_have_css("opacity", "0")
    page.locator(".tile > a").nth(3).hover()
    expect(caption).to_have_css("opacity", "1")

    # Three sizes; the choice survives a reload.
    medium = columns(page)
    page.get_by_role("button", name="Small tiles").click()
    expect(page.get_by_role("button", name="Small tiles")).to_have_attribute("aria-pressed", "true")
    small = columns(page)
    page.get_by_role("button", name="Large tiles").click()
    large = columns(page)
    assert small > medium > large >= 2, (small, medium, large)
    page.reload()
    assert columns(page) == large
    expect(page.get_by_role("button", name="Large tiles")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Small tiles").click()
    page.emulate_media(color_scheme="dark")
    images_loaded(page)
    shot(page, "grid-1440-dark-small")
    page.get_by_role("button", name="Medium tiles").click()
    assert columns(page) == medium

    page.set_viewport_size(PHONE)
    page.reload()
    images_loaded(page)
    shot(page, "grid-390-dark")
    page.emulate_media(color_scheme="light")
    shot(page, "grid-390-light")


# --- 2. The image-first viewer ----------------------------------------------------------------


def test_the_viewer_fits_zooms_to_100_percent_pans_and_hides_its_info(site, page):
    Generation.objects.filter(pk=Generation.objects.order_by("-id").first().pk).update(
        prompt=LONG_PROMPT
    )
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    page.goto(site + "/")
    dialog = open_viewer(page, 0)
    expect(dialog.locator("h1.prompt")).to_be_visible()
    expect(dialog.locator("[data-lb-position]")).to_have_text(re.compile(r"^1 of \d+\+?$"))

    # Fitted: the whole image on the screen, as large as the stage allows.
    fit = page.evaluate(
        """(() => { const f = document.querySelector('dialog .artwork').getBoundingClientRect();
             return {w: f.width, h: f.height, bottom: f.bottom}; })()"""
    )
    assert fit["bottom"] <= 900 and fit["h"] > 700, fit
    shot(page, "viewer-1440-dark")

    # The long prompt is clamped, "more" shows all of it.
    prompt = dialog.locator("h1.prompt")
    clamped = prompt.evaluate("e => e.getBoundingClientRect().height")
    more = dialog.get_by_role("button", name="more")
    more.click()
    expect(dialog.get_by_role("button", name="less")).to_have_attribute("aria-expanded", "true")
    assert prompt.evaluate("e => e.getBoundingClientRect().height") > clamped + 20

    # A click: 100%, the original's pixels (1024 px wide on the screen), drag to pan.
    stage = dialog.locator(".artwork")
    box = stage.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_js(page, "document.querySelector('dialog .artwork.is-zoomed')")
    expect(page).to_have_url(re.compile(r"/g/[a-z0-9]+/$"))  # still the viewer, not the file
    wait_for_js(page, "document.querySelector('dialog .artwork img').dataset.original")
    # The stored image is 1024 px square: at 100% it is drawn 1024 CSS pixels wide.
    assert abs(stage_scale(page) * min(fit["w"], fit["h"]) - 1024) < 2, stage_scale(page)
    before = page.evaluate("document.querySelector('dialog .artwork img').style.transform")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 60, steps=5)
    page.mouse.up()
    after = page.evaluate("document.querySelector('dialog .artwork img').style.transform")
    assert after != before and "scale" in after
    assert stage.evaluate("e => e.classList.contains('is-zoomed')")  # a pan does not unzoom
    shot(page, "viewer-1440-zoomed")
    page.keyboard.press("z")  # the key back to fitted
    assert stage_scale(page) == 1
    page.keyboard.press("z")
    assert stage_scale(page) > 1
    page.keyboard.press("z")

    # "i" hides the info panel (the image takes the room) and the choice is remembered.
    page.keyboard.press("i")
    expect(dialog.locator(".info")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Info")).to_have_attribute("aria-pressed", "false")
    assert stage.bounding_box()["width"] > box["width"] + 200
    shot(page, "viewer-1440-no-info")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    open_viewer(page, 1)
    expect(page.get_by_role("dialog").locator(".info")).to_be_hidden()
    page.keyboard.press("i")
    expect(page.get_by_role("dialog").locator(".info")).to_be_visible()
    page.emulate_media(color_scheme="light")
    shot(page, "viewer-1440-light")

    # The image's own page clamps the long prompt the same way.
    page.goto(site + Generation.objects.get(prompt=LONG_PROMPT).get_absolute_url())
    heading = page.get_by_role("heading", name=LONG_PROMPT)
    short = heading.evaluate("e => e.getBoundingClientRect().height")
    page.get_by_role("button", name="more").click()
    assert heading.evaluate("e => e.getBoundingClientRect().height") > short + 20


def test_the_viewer_walks_across_pages_and_keeps_focus_on_its_buttons(site, page):
    page.set_viewport_size(DESKTOP)
    page.goto(site + "/")
    # Large tiles: the first page fills more than the screen, so the grid's infinite scroll
    # has not loaded the second one yet.
    page.get_by_role("button", name="Large tiles").click()
    page.reload()
    expect(page.locator("#grid .tile")).to_have_count(12)
    dialog = open_viewer(page, 0)
    expect(dialog.locator("[data-lb-position]")).to_have_text("1 of 12+")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(dialog.locator("[data-lb-position]")).to_have_text("11 of 12+")
    next_button = dialog.get_by_role("button", name="Next image")
    next_button.focus()
    page.keyboard.press("Enter")
    expect(dialog.locator("[data-lb-position]")).to_have_text("12 of 12+")
    expect(next_button).to_be_focused()
    page.keyboard.press("Enter")  # past the end of the first page: the next one loads
    expect(dialog.locator("[data-lb-position]")).to_have_text("13 of 20")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    expect(dialog.locator("[data-lb-position]")).to_have_text("20 of 20")
    expect(next_button).to_be_disabled()


def test_copy_image_and_drag_out_give_the_original(site, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size(DESKTOP)
    page.goto(site + "/")
    dialog = open_viewer(page, 2)
    item = Generation.objects.get(public_id=page.url.rstrip("/").rsplit("/", 1)[1])
    dialog.get_by_role("button", name="Copy image").click()
    expect(dialog.get_by_role("status").filter(has_text="Image copied")).to_be_visible()
    copied = page.evaluate(
        """(async () => { const [entry] = await navigator.clipboard.read();
             const blob = await entry.getType('image/png');
             const bitmap = await createImageBitmap(blob);
             return {types: entry.types, width: bitmap.width}; })()"""
    )
    assert copied == {"types": ["image/png"], "width": item.width}

    # What a drag out of the browser carries: the original's address, not the preview's.
    dragged = page.evaluate(
        """(() => { const data = new DataTransfer();
             const img = document.querySelector('dialog .artwork img');
             img.dispatchEvent(new DragEvent('dragstart', {bubbles: true, cancelable: true,
                                                          dataTransfer: data}));
             return {uri: data.getData('text/uri-list'), download: data.getData('DownloadURL'),
                     shown: img.currentSrc}; })()"""
    )
    assert dragged["uri"] == site + item.original_url
    assert (
        dragged["download"]
        == f"image/jpeg:{item.public_id}.jpg:{site}{item.original_url}?download=1"
    )
    assert dragged["shown"] != dragged["uri"]  # the screen shows the preview


def touch(cdp, kind: str, *points: tuple[float, float]) -> None:
    cdp.send(
        "Input.dispatchTouchEvent",
        {
            "type": kind,
            "touchPoints": [{"x": x, "y": y, "id": n} for n, (x, y) in enumerate(points)],
        },
    )


def test_on_a_touch_screen_swipe_steps_and_pinch_zooms(site, browser):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(site + "/")
    ids = page.eval_on_selector_all(
        "#grid a[data-lightbox]", "els => els.map(a => new URL(a.href).pathname)"
    )
    page.locator("#grid a[data-lightbox]").nth(1).tap()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page).to_have_url(site + ids[1])
    wait_for_js(page, "document.querySelector('dialog .artwork img')?.naturalWidth > 0")
    shot(page, "viewer-390-light")
    box = dialog.locator(".artwork").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = context.new_cdp_session(page)

    def swipe(dx: float) -> None:
        touch(cdp, "touchStart", (cx, cy))
        for n in range(1, 6):
            touch(cdp, "touchMove", (cx + dx * n / 5, cy + 4))
        touch(cdp, "touchEnd")

    swipe(-160)  # to the left: the next image
    expect(page).to_have_url(site + ids[2])
    wait_for_js(page, "!document.querySelector('dialog.is-loading')")
    swipe(160)
    expect(page).to_have_url(site + ids[1])
    wait_for_js(page, "!document.querySelector('dialog.is-loading')")
    swipe(30)  # too short to count
    page.wait_for_timeout(300)
    expect(page).to_have_url(site + ids[1])

    # Two fingers apart: zoom in; then a swipe pans the zoomed image instead of stepping.
    touch(cdp, "touchStart", (cx - 30, cy), (cx + 30, cy))
    for n in range(1, 8):
        touch(cdp, "touchMove", (cx - 30 - 15 * n, cy), (cx + 30 + 15 * n, cy))
    touch(cdp, "touchEnd")
    scale = stage_scale(page)
    assert 2.5 < scale <= 8, scale
    swipe(-160)
    page.wait_for_timeout(300)
    expect(page).to_have_url(site + ids[1])
    assert "translate(" in page.evaluate(
        "document.querySelector('dialog .artwork img').style.transform"
    )
    page.emulate_media(color_scheme="dark")
    shot(page, "viewer-390-dark-pinched")
    context.close()
