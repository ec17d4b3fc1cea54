"""The studio in a real browser: a batch of four from the grid lands in place, a queued image
is cancelled, the tab title counts what finished while the tab was hidden, and the pages
look right (screenshots under test-artifacts/)."""

import re

import pytest
from playwright.sync_api import expect

from gallery.models import Generation
from tests import test_browser
from tests.conftest import wait_for_js
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

app = test_browser.app
worker = test_browser.worker


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_a_batch_of_four_from_the_grid_lands_in_place_and_the_title_counts_it(
    app, page, owner, standin, settings
):
    settings.GALLERY_WORKERS = 1
    standin.latency = 1.0
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, app, "ada", "ada-password-123")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    page.get_by_label("Prompt", exact=True).fill("A kite over the dunes, gouache")
    page.get_by_label("Images", exact=True).select_option("4")
    page.get_by_label("Prompt", exact=True).press("Control+Enter")

    tiles = page.locator("#grid .tile-live")
    expect(tiles).to_have_count(4)
    expect(page.get_by_text("4 images queued.")).to_be_visible()
    # The tab is hidden from now on: what finishes counts in its title.
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})"
    )
    expect(page.locator("#grid .tile-live [data-testid=queue-place]").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "studio-batch-pending.png")

    expect(page.locator("#grid .tile-live img")).to_have_count(4, timeout=30_000)
    wait_for_js(
        page, "[...document.querySelectorAll('#grid .tile-live img')].every(i => i.complete)"
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload
    expect(page).to_have_title(re.compile(r"^\(\d\) "))
    finished_unseen = int(re.match(r"^\((\d)\)", page.title()).group(1))
    assert 3 <= finished_unseen <= 4  # the first may finish before the tab was hidden
    page.screenshot(path=ARTIFACTS / "studio-batch-done.png")

    # Looking again clears the count.
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true}"
        "); document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page).to_have_title("Gallery · SDXL Gallery")
    assert Generation.objects.filter(status="succeeded").count() == 4


def test_a_queued_image_is_cancelled_from_its_tile_and_never_made(app, page, owner, standin):
    standin.latency = 3.0  # the first image holds the only worker
    sign_in(page, app, "ada", "ada-password-123")
    page.get_by_label("Prompt", exact=True).fill("A heron in the reeds")
    page.get_by_label("Images", exact=True).select_option("2")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live")).to_have_count(2)

    queued = page.locator("#grid .tile-live[data-status=queued]").last
    expect(queued).to_be_visible()
    cancelled_id = queued.get_attribute("data-live")
    queued.get_by_role("button", name="Cancel").click()

    expect(page.locator(f"#t-{cancelled_id}")).to_have_count(0)
    expect(page.locator("#grid .tile-live img")).to_have_count(1, timeout=20_000)
    assert not Generation.objects.filter(public_id=cancelled_id).exists()
    assert len(standin.received) == 1


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("light", {"color_scheme": "light", "viewport": {"width": 1440, "height": 900}}),
        ("dark", {"color_scheme": "dark", "viewport": {"width": 1440, "height": 900}}),
        ("phone-light", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}}),
        ("phone-dark", {"color_scheme": "dark", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_the_studio_looks_right(app, browser, owner, standin, variant, options):
    standin.latency = 30.0  # nothing finishes while the screenshots are taken
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(**options)
    page = context.new_page()
    sign_in(page, app, "ada", "ada-password-123")
    page.get_by_label("Prompt", exact=True).fill("A lighthouse on a cliff at dawn, watercolour")
    page.get_by_label("Images", exact=True).select_option("3")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live")).to_have_count(3)
    expect(page.locator("#grid .tile-live[data-status=running]")).to_have_count(1)
    assert no_sideways_scroll(page)
    page.screenshot(path=ARTIFACTS / f"studio-{variant}.png")
    context.close()


def test_making_an_image_private_hides_it_from_an_anonymous_visitor(app, browser, page, owner):
    sign_in(page, app, "ada", "ada-password-123")
    page.get_by_label("Prompt", exact=True).fill("A fox in the snow")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live img")).to_have_count(1, timeout=20_000)
    item = Generation.objects.get()
    visitor = browser.new_context().new_page()
    assert visitor.goto(app + item.get_absolute_url()).status == 200

    page.goto(app + item.get_absolute_url())
    page.get_by_test_id("visibility").click()
    expect(page.get_by_text("Now private.")).to_be_visible()
    expect(page.get_by_test_id("visibility")).to_have_text("Make public")

    assert visitor.goto(app + item.get_absolute_url()).status == 404
    visitor.goto(app + "/")
    expect(visitor.locator(f"#t-{item.public_id}")).to_have_count(0)
    visitor.context.close()


def test_edit_prompt_in_the_viewer_fills_the_composer_in_place(app, page, owner):
    sign_in(page, app, "ada", "ada-password-123")
    page.get_by_label("Prompt", exact=True).fill("A heron in the reeds at dawn")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live img")).to_have_count(1, timeout=20_000)
    source = Generation.objects.get()
    page.reload()
    page.get_by_label("Prompt", exact=True).fill("")

    page.locator(f"#t-{source.public_id} a").first.click()
    viewer = page.locator("dialog[open]")
    expect(viewer).to_be_visible()
    viewer.get_by_role("link", name="Edit prompt").click()

    expect(viewer).to_have_count(0)
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("A heron in the reeds at dawn")
    expect(page.locator("form.composer input[name=source]")).to_have_value(source.public_id)
    expect(page).to_have_url(app + "/")  # the grid, not another page


def test_a_notification_after_opting_in_when_a_batch_finishes_in_a_hidden_tab(
    app, browser, owner, standin
):
    standin.latency = 1.5  # still drawing once the tab is hidden
    context = browser.new_context(permissions=["notifications"])
    # Record notifications instead of showing them (an init script is not subject to CSP).
    context.add_init_script(
        "window.__notes = []; const Real = window.Notification;"
        "window.Notification = class extends Real {"
        "  constructor(title, options) { super(title, options); window.__notes.push(title); } };"
    )
    page = context.new_page()
    sign_in(page, app, "ada", "ada-password-123")
    page.goto(app + "/account/preferences")
    page.get_by_label("Notify me when a batch finishes").check()
    wait_for_js(page, "localStorage.getItem('gallery:notify') === 'on'")

    page.goto(app + "/")
    page.get_by_label("Prompt", exact=True).fill("A kite")
    page.get_by_label("Images", exact=True).select_option("2")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live")).to_have_count(2)
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})"
    )
    expect(page.locator("#grid .tile-live img")).to_have_count(2, timeout=20_000)
    wait_for_js(page, "window.__notes.length === 1")
    assert page.evaluate("window.__notes") == ["Your images are ready"]
    context.close()


def test_my_history_updates_by_itself(app, page, owner, standin):
    standin.latency = 2.0
    sign_in(page, app, "ada", "ada-password-123")
    page.get_by_label("Prompt", exact=True).fill("A hare in the frost")
    page.get_by_label("Images", exact=True).select_option("2")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live")).to_have_count(2)

    page.goto(app + "/history")
    page.evaluate("window.__sameDocument = true")
    rows = page.locator(".history-row")
    expect(rows).to_have_count(2)
    expect(page.locator(".history-row[data-status=succeeded]")).to_have_count(2, timeout=20_000)
    expect(page.locator(".history-row img")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("light", {"color_scheme": "light", "viewport": {"width": 1440, "height": 900}}),
        ("dark", {"color_scheme": "dark", "viewport": {"width": 1440, "height": 900}}),
        ("phone-light", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}}),
        ("phone-dark", {"color_scheme": "dark", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_picking_a_style_shows_its_example_image(finished, app, browser, owner, variant, options):
    # `finished` first: made before the app slows the stand-in down.
    from gallery.models import StylePreset

    StylePreset.objects.create(
        name="Watercolour", prompt_template="{prompt}, watercolour", example=finished, order=1
    )
    StylePreset.objects.create(name="Ink", prompt_template="{prompt}, ink", order=2)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(**options)
    page = context.new_page()
    sign_in(page, app, "ada", "ada-password-123")
    example = page.locator("form.composer [data-style-example]")
    expect(example).to_be_hidden()  # "No style" has none

    page.get_by_label("Style", exact=True).select_option(label="Watercolour")
    expect(example).to_be_visible()
    expect(example).to_have_attribute("alt", "Example of the Watercolour style")
    wait_for_js(
        page,
        "(i => i.complete && i.naturalWidth > 0)"
        "(document.querySelector('form.composer [data-style-example]'))",
    )
    # The public thumbnail, served by the media view like the grid's.
    assert example.get_attribute("src") == finished.thumbnail_url
    assert no_sideways_scroll(page)
    page.screenshot(path=ARTIFACTS / f"studio-style-example-{variant}.png")

    page.get_by_label("Style", exact=True).select_option(label="Ink")
    expect(example).to_be_hidden()  # a style without an example shows none
    context.close()
