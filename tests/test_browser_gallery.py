"""Browsing the gallery in a real browser: infinite scroll, search, filters kept in the URL."""

import re
import time
from io import BytesIO

import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from gallery.models import Generation
from tests.conftest import wait_for_js
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PALETTE = [
    ((46, 64, 120), (240, 170, 90)),
    ((20, 90, 70), (200, 230, 150)),
    ((120, 30, 60), (250, 200, 120)),
    ((30, 30, 40), (120, 140, 255)),
    ((200, 120, 60), (60, 40, 90)),
    ((90, 160, 200), (250, 250, 230)),
]


@pytest.fixture
def thumbnails(media_root) -> list[tuple[str, str, str]]:
    """A few small WebP thumbnails (1x and 2x) that many rows share, and their colours."""
    made = []
    for n, (top, bottom) in enumerate(PALETTE):
        names = []
        for size in (256, 512):
            image = Image.new("RGB", (size, size), top)
            draw = ImageDraw.Draw(image)
            for y in range(size):  # a vertical gradient and a sun, so tiles look like pictures
                t = y / size
                draw.line(
                    [(0, y), (size, y)],
                    fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
                )
            r = size // 6
            draw.ellipse([size // 2 - r, size // 3 - r, size // 2 + r, size // 3 + r], fill=bottom)
            buffer = BytesIO()
            image.save(buffer, "WEBP", quality=80)
            names.append(default_storage.save(f"thumbnails/bt/tile{n}-{size}.webp", buffer))
        made.append((names[0], names[1], "#{:02x}{:02x}{:02x}".format(*top)))
    return made


@pytest.fixture
def seed(thumbnails):
    def make(prompt: str, **fields) -> Generation:
        small, large, colour = thumbnails[Generation.objects.count() % len(thumbnails)]
        return Generation.objects.create(
            prompt=prompt,
            status=Generation.Status.SUCCEEDED,
            original="originals/bt/none.jpg",
            thumbnail=small,
            thumbnail_2x=large,
            placeholder_color=colour,
            sha256="0" * 64,
            width=1024,
            height=1024,
            **fields,
        )

    return make


def tile_ids(page) -> list[str]:
    return page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.id)")


def test_infinite_scroll_reaches_page_three_with_its_filter_and_no_duplicates(
    live_server, page, seed, settings
):
    settings.GALLERY_PAGE_SIZE = 6
    for n in range(20):
        seed(f"a fox in the snow, study {n}")
        seed(f"a whale in the deep, study {n}")
    # Short enough that the first page of 6 tiles fills the screen.
    page.set_viewport_size({"width": 1280, "height": 520})
    page.goto(live_server.url + "/?q=fox")
    expect(page.locator(".tile")).to_have_count(6)
    for loaded in (12, 18, 20):
        # Scroll the window, not to #more: htmx may swap that element out mid-scroll.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        # At least: a page that lands with the sentinel still in view asks for the next one
        # at once, so the count can pass a step between two polls.
        deadline = time.monotonic() + 5
        while page.locator(".tile").count() < loaded and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert page.locator(".tile").count() >= loaded
    expect(page.locator(".tile")).to_have_count(20)
    ids = tile_ids(page)
    assert len(ids) == len(set(ids)) == 20
    captions = page.locator(".tile-caption").all_text_contents()
    assert all("fox" in c for c in captions), captions
    assert captions[0].endswith("study 19") and captions[-1].endswith("study 0")
    expect(page.locator("#more")).to_have_count(0)  # the end: nothing more to ask for
    assert page.url.endswith("/?q=fox")  # scrolling did not change the address


def test_search_with_a_minus_leaves_those_prompts_out(live_server, page, seed):
    seed("a forest with people walking")
    seed("a misty forest at dawn")
    seed("a forest cabin, people by the fire")
    seed("a desert at noon")
    page.goto(live_server.url + "/")
    search = page.get_by_role("searchbox", name="Search prompts")
    search.fill("forest -people")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?q=forest\+-people$"))
    expect(page.locator(".tile-caption")).to_have_text(["a misty forest at dawn"])
    expect(page.get_by_role("heading", name="Results for “forest -people”")).to_be_visible()


def test_filters_live_in_the_url_through_reload_back_and_the_detail_page(
    live_server, page, seed, owner, other_user
):
    prompts = [
        "lighthouse on a cliff at dawn, watercolour",
        "a quiet harbour, oil painting",
        "neon city street in the rain",
        "a fox curled up in autumn leaves",
        "mountain lake at sunset, long exposure",
        "a lighthouse in a storm, dramatic sky",
        "still life with lemons and a blue jug",
        "a lantern-lit market at night",
    ]
    for n, prompt in enumerate(prompts):
        seed(prompt, owner=owner if n % 4 != 3 else other_user)
    page.set_viewport_size({"width": 1100, "height": 900})
    sign_in(page, live_server.url, "ada", "ada-password-123")
    page.goto(live_server.url + "/")
    expect(page.locator(".tile")).to_have_count(8)

    page.locator("label.chip", has_text="Mine").click()  # applies at once
    expect(page).to_have_url(re.compile(r"\?mine=1$"))
    page.locator(".sort-toggle label", has_text="Oldest").click()
    expect(page).to_have_url(re.compile(r"\?mine=1&sort=oldest$"))
    mine_oldest = [p for n, p in enumerate(prompts) if n % 4 != 3]
    expect(page.locator(".tile-caption")).to_have_text(mine_oldest)

    page.reload()
    expect(page.get_by_role("checkbox", name="Mine")).to_be_checked()
    expect(page.get_by_role("radio", name="Oldest")).to_be_checked()
    expect(page.locator(".tile-caption")).to_have_text(mine_oldest)
    ARTIFACTS.mkdir(exist_ok=True)
    wait_for_js(page, "[...document.querySelectorAll('.tile img')].every(i => i.complete)")
    page.screenshot(path=ARTIFACTS / "gallery-filtered.png", full_page=True)

    # Into an image's own page (a click opens the lightbox over the grid; its page is what a
    # shared link or a browser without JavaScript shows), on to the next one in this list,
    # then back out the way we came.
    page.goto(live_server.url + page.locator(".tile > a").nth(1).get_attribute("href"))
    expect(page.get_by_role("heading", name=mine_oldest[1])).to_be_visible()
    page.locator("a[rel=next]").click()
    expect(page.get_by_role("heading", name=mine_oldest[2])).to_be_visible()
    expect(page).to_have_url(re.compile(r"/g/[a-z0-9]+/\?mine=1&sort=oldest$"))
    page.locator("a[rel=up]").click()
    expect(page).to_have_url(re.compile(r"/\?mine=1&sort=oldest#t-"))
    expect(page.locator(".tile-caption")).to_have_text(mine_oldest)
    page.go_back()
    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(r"/\?mine=1&sort=oldest$"))
    expect(page.get_by_role("checkbox", name="Mine")).to_be_checked()
    expect(page.locator(".tile-caption")).to_have_text(mine_oldest)

    # The same bar in the dark, on a phone.
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/?q=lighthouse&mine=1")
    expect(page.locator(".tile")).to_have_count(2)
    wait_for_js(page, "[...document.querySelectorAll('.tile img')].every(i => i.complete)")
    page.screenshot(path=ARTIFACTS / "gallery-filtered-mobile-dark.png")
    # The filter row scrolls by itself; the page never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") == 390
