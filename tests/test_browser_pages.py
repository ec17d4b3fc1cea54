"""Every page of ours, in a real browser: none scrolls sideways on a phone (320 to 430 px),
axe-core finds nothing critical or serious in the light or the dark theme, and the keyboard
reaches everything with a visible focus."""

import os

import pytest
from playwright.sync_api import expect

from accounts.models import Invite
from gallery.models import Generation, StylePreset
from tests.a11y import axe_violations
from tests.conftest import wait_for_js
from tests.test_browser import sign_in
from tests.test_browser_detail import build_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTHS = (320, 375, 390, 430)
# Emoji and pictographs: a page's icons are inline SVG, which every system can draw.
EMOJI = r"[\u2600-\u27BF\u2B50\u2705\u{1F300}-\u{1FAFF}]"


@pytest.fixture
def site(live_server, settings, media_root, client_for, owner, other_user, moderator):
    url = build_site(live_server, settings, media_root, client_for, owner)
    # The states a page can show: private, failed, waiting, reported and hidden.
    first = Generation.objects.order_by("id").first()
    Generation.objects.filter(pk=first.pk).update(visibility="private")
    Generation.objects.create(
        prompt="A red fox in the snow",
        owner=owner,
        status=Generation.Status.FAILED,
        failure_reason="The endpoint is busy. Gave up after 4 attempts; you can retry later.",
    )
    Generation.objects.create(prompt="A castle in the clouds", owner=owner)
    last = Generation.objects.filter(preview_image__gt="").order_by("-id").first()
    Generation.objects.filter(pk=last.pk).update(moderation="pending")
    # Single sign-on on: the sign-in and invitation pages show its button, and a failed
    # callback its page.
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example ID"
    Invite.objects.create(note="for the page checks")
    # A style with an example image in the composer (picked in `visit_all`).
    StylePreset.objects.create(
        name="Watercolour",
        prompt_template="{prompt}, watercolour",
        example=Generation.objects.public().order_by("id").first(),
    )
    return url


def pages(role: str) -> list[str]:
    """Our pages (not Django's admin) as each kind of visitor sees them."""
    detail = (
        Generation.objects.filter(preview_image__gt="", visibility="public", moderation="visible")
        .order_by("id")
        .first()
        .get_absolute_url()
    )
    if role == "anonymous":
        return [
            "/",
            "/?q=lighthouse",
            detail,
            "/accounts/login/",
            "/accounts/signup/",
            Invite.objects.get().get_absolute_url(),
            "/oidc/callback/",
            "/accounts/password_reset/",
            "/accounts/password_reset/done/",
            "/accounts/reset/done/",
            "/verify",
            "/no-such-page",
        ]
    if role == "owner":
        failed = Generation.objects.get(status="failed").get_absolute_url()
        return [
            "/",
            "/?mine=1&status=failed",
            detail,
            failed,
            "/history",
            "/account/preferences",
            "/accounts/",
            "/accounts/tokens/",
            "/accounts/password_change/",
            "/accounts/password_change/done/",
        ]
    return ["/moderation/", "/operations/", "/"]  # staff


def visit_all(page, site, check) -> list[str]:
    """Call check(page, label) on every page for each kind of visitor; what it returns."""
    found = []
    page.context.clear_cookies()
    for role, login in (
        ("anonymous", None),
        ("owner", ("ada", "ada-password-123")),
        ("staff", ("mod", "mod-password-123")),
    ):
        if login:
            page.context.clear_cookies()
            sign_in(page, site, *login)
        for path in pages(role):
            page.goto(site + path)
            found += check(page, f"{role} {path}")
        if role == "owner":
            # The viewer over the grid, and the shortcuts help.
            page.goto(site + "/")
            page.locator("#grid a[data-lightbox]").nth(1).click()
            expect(page.get_by_role("dialog")).to_be_visible()
            wait_for_js(page, "!document.querySelector('dialog.is-loading')")
            found += check(page, "owner viewer")
            page.keyboard.press("Escape")
            page.keyboard.press("?")
            expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
            found += check(page, "owner shortcuts")
            page.keyboard.press("Escape")
            # The composer with a style chosen, its example image beside it.
            page.goto(site + "/")
            page.get_by_label("Style", exact=True).select_option(label="Watercolour")
            expect(page.locator("[data-style-example]")).to_be_visible()
            found += check(page, "owner composer with a style")
    return found


def sideways(page, label: str) -> list[str]:
    width = page.evaluate("innerWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll <= width:
        return []
    culprit = page.evaluate(
        """[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
            .map(e => e.tagName + '.' + e.className).slice(-3).join(' | ')"""
    )
    return [f"{label}: {scroll} px wide in {width} ({culprit})"]


def test_no_page_scrolls_sideways_on_a_phone(site, page):
    found = []
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        found += visit_all(page, site, sideways)
    assert not found, "\n".join(found)


def test_the_top_bar_folds_into_a_menu_on_a_phone(site, page):
    page.set_viewport_size({"width": 320, "height": 700})
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    history = page.get_by_role("link", name="My history")
    expect(history).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    # The bar is one row, and the stand-in notice one line.
    assert page.locator(".topbar").bounding_box()["height"] < 64
    notice = page.get_by_role("note")
    assert notice.evaluate("e => e.getBoundingClientRect().height") < 40
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(history).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert not sideways(page, "menu open")
    page.screenshot(path="test-artifacts/browse/menu-320.png")
    page.keyboard.press("Escape")
    expect(history).to_be_hidden()
    expect(menu).to_be_focused()
    menu.click()
    history.click()
    expect(page).to_have_url(site + "/history")


def checks(page) -> list[str]:
    emoji = page.evaluate(f"document.body.innerText.match(/{EMOJI}/gu)")
    return axe_violations(page) + ([f"emoji as icons: {emoji}"] if emoji else [])


def test_axe_finds_nothing_critical_or_serious_light_and_dark(site, page):
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": 1440, "height": 900})
        found += visit_all(
            page, site, lambda p, label, s=scheme: [f"{s} {label}: {v}" for v in checks(p)]
        )
    page.set_viewport_size({"width": 390, "height": 844})
    page.context.clear_cookies()
    sign_in(page, site, "ada", "ada-password-123")
    page.get_by_role("button", name="Menu").click()
    found += [f"phone menu: {v}" for v in axe_violations(page)]
    assert not found, "\n".join(found)


def focus_ring(page) -> str:
    return page.evaluate(
        """(() => { const s = getComputedStyle(document.activeElement);
             const own = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
             const label = document.activeElement.closest('.chip');
             const chip = label && getComputedStyle(label).outlineStyle !== 'none';
             const html = document.activeElement.outerHTML.slice(0, 80);
             return own || chip ? 'visible' : `none on ${html}`;
           })()"""
    )


def test_the_keyboard_skips_to_the_content_one_stop_per_tile_and_focus_shows(site, page):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, site, "ada", "ada-password-123")
    page.goto(site + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Every control up to the grid shows its focus; then each tile is one stop.
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('#grid') !== null"):
            break
        seen.append(focus_ring(page))
    assert seen and all(s == "visible" for s in seen), [s for s in seen if s != "visible"]
    stops = []
    for _ in range(12):
        if len(stops) == 5:
            break
        if page.evaluate("document.activeElement.closest('.tile-action') !== null"):
            # A tile still in progress has one more stop: its Cancel or Retry button.
            assert focus_ring(page) == "visible"
            page.keyboard.press("Tab")
            continue
        stops.append(
            page.evaluate(
                "document.activeElement.closest('.tile')?.id"
                " ?? document.activeElement.outerHTML.slice(0, 80)"
            )
        )
        assert stops[-1].startswith("t-"), stops
        # Focusing a tile shows the start of its prompt (a tile in progress always does).
        tile = page.locator(f"#{stops[-1]}")
        if tile.locator(".tile-caption").count():
            expect(tile.locator(".tile-caption")).to_have_css("opacity", "1")
        else:
            expect(tile.locator(".tile-prompt")).to_be_visible()
        assert focus_ring(page) == "visible"
        page.keyboard.press("Tab")
    assert len(set(stops)) == 5, stops
    page.screenshot(path="test-artifacts/browse/keyboard-focus.png")
    # Enter on a tile opens the viewer; every control in it shows its focus; Esc goes back
    # to the same tile.
    tile = stops[-1]
    page.locator(f"#{tile} a[data-lightbox]").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close (Esc)")).to_be_focused()
    rings = []
    # The image, then the panel's controls (not past the last: focus would go to the
    # browser's own UI).
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog[open]') !== null")
        rings.append(focus_ring(page))
    assert all(r == "visible" for r in rings), [r for r in rings if r != "visible"]
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # (Checked in the page: Playwright calls a page whose window lost the OS focus to the
    # screenshot "inactive", whatever its focused element.)
    wait_for_js(page, f"document.activeElement === document.querySelector('#{tile} a')", 5)


def test_the_admin_generation_list_gives_the_prompt_a_readable_column(site, page):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, site, "mod", "mod-password-123")
    page.goto(site + "/admin/gallery/generation/")
    cell = page.locator("#result_list td.field-short_prompt").first
    expect(cell).to_be_visible()
    assert cell.bounding_box()["width"] >= 300
    page.screenshot(path="test-artifacts/browse/admin-list.png")


@pytest.mark.parametrize("language", ["fr", "de"])
def test_no_page_scrolls_sideways_in_french_or_german(site, page, language):
    # Translations run longer than English: the German filter bar once widened the desktop
    # page by 25 px.
    host = site.split("//")[1].split(":")[0]
    found = []
    for role, login in (
        ("anonymous", None),
        ("owner", ("ada", "ada-password-123")),
        ("staff", ("mod", "mod-password-123")),
    ):
        page.context.clear_cookies()
        if login:
            sign_in(page, site, *login)
        page.context.add_cookies(
            [{"name": "django_language", "value": language, "domain": host, "path": "/"}]
        )
        for path in pages(role):
            for width, height in ((1440, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                page.goto(site + path)
                found += sideways(page, f"{language} {role} {path} at {width}")
                if os.environ.get("GALLERY_SCREENSHOTS"):  # to look at, by hand
                    slug = path.strip("/").replace("/", "-").replace("?", "-") or "gallery"
                    page.screenshot(
                        path=f"test-artifacts/i18n/{language}-{role}-{slug}-{width}.png"
                    )
    assert not found, "\n".join(found)
