"""A grid tile's ⋯ menu in a real browser: Open, Copy prompt, Edit prompt, More like this and
Add to collection, by mouse on a desktop, by keyboard (Shift+F10 on the focused tile), and as
a bottom sheet on a phone; plus the menu fragment's own access rules."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from gallery.models import Collection, Generation
from tests.a11y import axe_violations
from tests.conftest import wait_for_js
from tests.test_browser import sign_in
from tests.test_browser_detail import build_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/tiles-shots")
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def site(live_server, settings, media_root, client_for, owner):
    return build_site(live_server, settings, media_root, client_for, owner)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")


def first_tile(page) -> tuple[Generation, object]:
    tile = page.locator("#grid > li.tile").first
    item = Generation.objects.get(public_id=tile.get_attribute("id")[2:])
    return item, tile


def open_menu(page, tile):
    tile.hover()
    tile.get_by_role("button", name="More actions").click()
    menu = page.get_by_test_id("tile-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("link", name="Open")).to_be_visible()  # the body has loaded
    return menu


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_desktop_the_menu_copies_edits_opens_and_makes_more(site, page, owner, scheme):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    item, tile = first_tile(page)

    menu = open_menu(page, tile)
    expect(menu.get_by_role("button", name="More like this")).to_be_visible()
    expect(menu.get_by_test_id("collect")).to_be_visible()
    # A popover by the tile's button (below it, or above where the screen ends), inside the
    # screen, not over the button.
    box, button = menu.bounding_box(), tile.locator(".tile-more").bounding_box()
    below = box["y"] >= button["y"] + button["height"]
    above = box["y"] + box["height"] <= button["y"]
    assert below or above, (box, button)
    assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"]
    shot(page, f"menu-desktop-{scheme}")
    assert not axe_violations(page)

    menu.get_by_role("button", name="Copy prompt").click()
    expect(menu.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == item.prompt
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    # Edit prompt fills the composer here, linked to the source image, as in the viewer.
    open_menu(page, tile).get_by_role("link", name="Edit prompt").click()
    expect(menu).to_be_hidden()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(item.prompt)
    expect(page.locator("form.composer input[name=source]")).to_have_value(item.public_id)
    expect(page).to_have_url(site + "/")

    # Open: the viewer, on this image.
    open_menu(page, tile).get_by_role("link", name="Open").click()
    viewer = page.locator("dialog.lightbox[open], dialog[open]").first
    expect(viewer).to_be_visible()
    expect(page).to_have_url(site + item.get_absolute_url())
    page.keyboard.press("Escape")
    expect(page).to_have_url(site + "/")

    # More like this: N more of the same prompt, linked to it.
    before = Generation.objects.count()
    menu = open_menu(page, tile)
    menu.get_by_label("How many more").select_option("2")
    menu.get_by_role("button", name="More like this").click()
    wait_for_js(page, "!document.querySelector('#tile-menu[open]')")
    made = Generation.objects.order_by("-id")[:2]
    assert Generation.objects.count() == before + 2
    assert all(g.prompt == item.prompt and g.source_id == item.id for g in made)


def test_the_keyboard_opens_the_menu_on_the_focused_tile_and_esc_returns(site, page, owner):
    Collection.objects.create(owner=owner, name="Herons")
    page.set_viewport_size(DESKTOP)
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    item, tile = first_tile(page)
    tile.locator("a[data-lightbox]").focus()
    page.keyboard.press("Shift+F10")
    menu = page.get_by_test_id("tile-menu")
    expect(menu).to_be_visible()
    # The menu's actions arrive from the server; Tab before they land would walk the page.
    expect(menu.get_by_test_id("collect")).to_be_visible()
    # Focus moves into the menu; Tab walks its actions and stays in it.
    wait_for_js(page, "document.activeElement.closest('#tile-menu') !== null")
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#tile-menu') !== null")
    # Add to collection from the menu, by keyboard.
    menu.get_by_test_id("collect").focus()
    page.keyboard.press("Enter")
    expect(menu.get_by_text("Herons")).to_be_visible()
    page.keyboard.press("Escape")  # closes the picker only
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    wait_for_js(page, f"document.activeElement === document.querySelector('#t-{item.public_id} a')")
    # The menu key does the same.
    page.keyboard.press("ContextMenu")
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_the_menu_is_a_bottom_sheet(site, page, owner, scheme):
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    item, tile = first_tile(page)
    # No hover on a phone: the button shows.
    button = tile.get_by_role("button", name="More actions")
    button.scroll_into_view_if_needed()
    button.click()
    menu = page.get_by_test_id("tile-menu")
    expect(menu.get_by_role("link", name="Edit prompt")).to_be_visible()
    box = menu.bounding_box()
    assert abs(box["y"] + box["height"] - PHONE["height"]) <= 1, box
    assert box["x"] == 0 and box["width"] == PHONE["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, f"menu-phone-{scheme}")
    assert not axe_violations(page)
    # Tapping outside the sheet closes it.
    page.mouse.click(195, 40)
    expect(menu).to_be_hidden()
    menu_again = open_menu(page, tile)
    menu_again.get_by_role("link", name="Edit prompt").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(item.prompt)


def test_a_visitor_s_menu_opens_and_copies_but_sends_them_to_sign_in_for_more(site, page):
    page.set_viewport_size(DESKTOP)
    page.goto(site + "/")
    _, tile = first_tile(page)
    menu = open_menu(page, tile)
    expect(menu.get_by_role("button", name="Copy prompt")).to_be_visible()
    expect(menu.get_by_role("link", name="Sign in")).to_be_visible()
    expect(menu.get_by_role("link", name="Edit prompt")).to_have_count(0)
    shot(page, "menu-visitor")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_collection_and_my_history_have_the_menu_too(site, page, owner, size):
    from gallery.services import collections

    viewport = DESKTOP if size == "desktop" else PHONE
    done = Generation.objects.filter(owner=owner, status="succeeded").order_by("-id")
    album = collections.create(owner, "Herons", visibility="public")
    collections.add(owner, album, list(done[:3]))
    item = done.first()
    page.set_viewport_size(viewport)
    sign_in(page, site, "ada", "ada-password-123")

    # My history: a row's ⋯ opens the same menu; Edit prompt opens the composer with it.
    page.goto(site + "/history")
    row = page.locator(f"#t-{item.public_id}")
    menu = open_menu(page, row)
    expect(menu.get_by_role("button", name="More like this")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"menu-history-{size}")
    assert not axe_violations(page)
    menu.get_by_role("link", name="Edit prompt").click()
    expect(page).to_have_url(f"{site}/g/{item.public_id}/again")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(item.prompt)

    # A collection's tile: Open goes to the image's page; Esc gives the focus back.
    page.goto(site + album.get_absolute_url())
    tile = page.locator(f"#t-{item.public_id}")
    menu = open_menu(page, tile)
    shot(page, f"menu-collection-{size}")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    open_menu(page, tile).get_by_role("link", name="Open").click()
    expect(page).to_have_url(f"{site}/g/{item.public_id}/")
