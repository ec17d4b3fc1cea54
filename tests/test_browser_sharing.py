"""Collections and share links in a real browser: a link with an expiry and a password,
opened by someone without an account, then revoked; a public collection filled from the
picker and from My history, seen by a visitor before and after staff hide an image."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gallery.models import Collection, Generation, ShareLink
from gallery.services import moderation
from tests.conftest import wait_for_js
from tests.factories import OWNER_PASSWORD
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def app(live_server, media_root):
    return live_server.url


def _context(browser, size="desktop", scheme="light"):
    return browser.new_context(color_scheme=scheme, viewport=SIZES[size])


def _copy(item: Generation, prompt: str, owner) -> Generation:
    """Another done image on the same files (the pages only need something to show)."""
    fields = {f: getattr(item, f).name for f in Generation.FILE_FIELDS}
    return Generation.objects.create(
        prompt=prompt, owner=owner, status="succeeded", **fields,
        **{k: getattr(item, k) for k in ("width", "height", "format", "byte_size", "sha256")},
    )  # fmt: skip


def _shots(browser, url: str, name: str, ready: str = "true") -> None:
    """The page at both sizes, light and dark, saved; never wider than the screen."""
    for size in SIZES:
        for scheme in ("light", "dark"):
            context = _context(browser, size, scheme)
            page = context.new_page()
            page.goto(url)
            wait_for_js(page, ready)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways ({size})"
            page.screenshot(path=ARTIFACTS / f"{name}-{size}-{scheme}.png", full_page=True)
            context.close()


def test_a_share_link_with_expiry_and_password_then_revoked(app, browser, finished, owner):
    ARTIFACTS.mkdir(exist_ok=True)
    Generation.objects.filter(pk=finished.pk).update(owner=owner, visibility="private")
    owner_context = _context(browser)
    mine = owner_context.new_page()
    sign_in(mine, app, owner.username, OWNER_PASSWORD)
    mine.goto(app + finished.get_absolute_url())
    mine.get_by_test_id("share-image").click()
    mine.get_by_label("Link expires after").select_option(label="7 days")
    mine.get_by_label("Password").fill("harbour lights")
    mine.get_by_role("button", name="Create link").click()
    link = mine.get_by_test_id("share-url").inner_text().strip()
    assert "/s/" in link
    mine.screenshot(path=ARTIFACTS / "share-made.png", full_page=True)

    # Someone without an account: the password first; a wrong one says so and nothing else.
    guest_context = _context(browser, "phone")
    guest = guest_context.new_page()
    guest.goto(link)
    expect(guest.get_by_role("heading", name="This link needs a password")).to_be_visible()
    guest.get_by_label("Password").fill("wrong")
    guest.get_by_role("button", name="Open").click()
    expect(guest.get_by_test_id("share-error")).to_have_text("Wrong password.")
    assert guest.locator("img").count() == 0
    assert "harbour" not in guest.content().replace("harbour lights", "")
    guest.get_by_label("Password").fill("harbour lights")
    guest.get_by_role("button", name="Open").click()
    image = guest.get_by_test_id("shared-image")
    expect(image).to_be_visible()
    wait_for_js(guest, "document.querySelector('[data-testid=shared-image]').naturalWidth > 0")
    expect(guest.get_by_role("heading", name="a quiet harbour")).to_be_visible()
    expect(guest.get_by_text("Link expires")).to_be_visible()
    assert guest.evaluate(NO_SIDEWAYS_SCROLL)
    guest.screenshot(path=ARTIFACTS / "share-opened-phone.png", full_page=True)
    image_url = image.get_attribute("src")

    # The owner revokes it from their list of links: the page and the file end at once.
    mine.goto(app + "/shares/")
    row = mine.get_by_test_id("share-row")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Password")
    mine.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(mine.get_by_test_id("share-row")).to_contain_text("Revoked")
    guest.reload()
    expect(guest.get_by_role("heading", name="This link doesn’t work")).to_be_visible()
    assert guest.request.get(app + image_url).status == 404

    # A link that expired opens nothing either.
    expired = ShareLink.objects.create(
        owner=owner, generation=finished, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    guest.goto(app + expired.get_absolute_url())
    expect(guest.get_by_role("heading", name="This link doesn’t work")).to_be_visible()
    owner_context.close()
    guest_context.close()


def test_a_visitor_sees_a_public_collection_lose_an_image_staff_hide(
    app, browser, finished, owner, moderator
):
    ARTIFACTS.mkdir(exist_ok=True)
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    second = _copy(finished, "a second harbour, at night", owner)
    context = _context(browser)
    page = context.new_page()
    sign_in(page, app, owner.username, OWNER_PASSWORD)

    # From the image's page: the picker makes a new collection with the image in it.
    page.goto(app + finished.get_absolute_url())
    page.get_by_test_id("collect").click()
    page.get_by_placeholder("New collection").fill("Harbours")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="new collection")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "collect-picker.png")
    page.keyboard.press("Escape")
    album = Collection.objects.get(name="Harbours")

    # From My history, the other image, in bulk.
    page.goto(app + "/history")
    page.get_by_label("Select: a second harbour").check()
    page.get_by_label("Collection").select_option(label="Harbours")
    page.get_by_role("button", name="Add to collection").click()
    expect(page.get_by_text("Added 1 image to “Harbours”")).to_be_visible()

    # Made public from its page.
    page.goto(app + album.get_absolute_url())
    page.get_by_text("Edit…").click()
    page.get_by_label("Anyone who can browse the gallery").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".collection-meta .badge")).to_have_text("Public")
    context.close()

    visitor = _context(browser, "phone").new_page()
    visitor.goto(app + album.get_absolute_url())
    tiles = visitor.locator("#grid .tile")
    expect(tiles).to_have_count(2)
    assert visitor.evaluate(NO_SIDEWAYS_SCROLL)
    _shots(browser, app + album.get_absolute_url(), "collection",
           "[...document.images].every((i) => i.complete)")  # fmt: skip

    moderation.hide(second, actor=moderator, reason="Not allowed here")
    visitor.reload()
    expect(tiles).to_have_count(1)
    expect(visitor.locator(f"#t-{second.public_id}")).to_have_count(0)
    expect(visitor.locator(f"#t-{finished.public_id}")).to_have_count(1)
    visitor.context.close()


def test_collection_and_share_pages_look_right_at_both_sizes(app, browser, finished, owner):
    """Screenshots for looking at (test-artifacts/), and no page wider than a phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    from gallery.services import collections, sharing

    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    finished.refresh_from_db()
    album = collections.create(owner, "Harbours at dawn", "Quiet mornings", "public")
    collections.add(owner, album, [finished, _copy(finished, "another harbour", owner)])
    link = sharing.create(owner, album)
    _shots(browser, app + link.get_absolute_url(), "share-collection",
           "[...document.images].every((i) => i.complete)")  # fmt: skip
    image_link = sharing.create(owner, finished, hide_prompts=True)
    _shots(browser, app + image_link.get_absolute_url(), "share-image-hidden-prompts")
    for size in SIZES:
        context = _context(browser, size)
        page = context.new_page()
        sign_in(page, app, owner.username, OWNER_PASSWORD)
        for path, name in (("/collections/", "collections-list"), ("/shares/", "share-links"),
                           (f"/c/{album.public_id}/share", "share-collection-make")):  # fmt: skip
            page.goto(app + path)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways ({size})"
            page.screenshot(path=ARTIFACTS / f"{name}-{size}.png", full_page=True)
        context.close()


def test_the_viewer_adds_to_a_collection_and_esc_closes_the_picker_first(
    app, browser, finished, owner
):
    """The viewer shows the image's "Add to collection" control (the detail partial's);
    Esc closes an open picker, and only then the viewer."""
    from gallery.services import collections

    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    album = collections.create(owner, "Harbours")
    context = _context(browser)
    page = context.new_page()
    sign_in(page, app, owner.username, OWNER_PASSWORD)
    page.goto(app + "/")
    page.locator("#grid .tile > a").first.click()
    viewer = page.locator("dialog[open]")
    viewer.get_by_test_id("collect").click()
    viewer.get_by_text("Harbours").click()
    expect(viewer.get_by_text("Added to “Harbours”")).to_be_visible()
    assert list(album.images.all()) == [finished]
    page.keyboard.press("Escape")
    expect(viewer.locator("details[data-collect][open]")).to_have_count(0)
    expect(page.locator("dialog[open]")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    context.close()
