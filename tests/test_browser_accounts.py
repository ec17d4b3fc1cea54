"""In a real browser: the first run creates the administrator, who then makes an image; the
account pages in light, dark and on a phone (screenshots in test-artifacts/)."""

import pytest
from playwright.sync_api import expect

from core.models import SiteSettings
from tests import test_browser
from tests.test_browser import ARTIFACTS, sign_in, top_link

# The browser fixtures of the main browser test: its live server, worker and stand-in.
worker = test_browser.worker
app = test_browser.app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_first_run_creates_the_administrator_who_then_generates(app, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app + "/")
    banner = page.get_by_role("note").filter(has_text="no accounts yet")
    expect(banner).to_be_visible()
    banner.get_by_role("link", name="Create the administrator account").click()

    expect(page).to_have_url(app + "/setup/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Email").fill("root@example.org")
    page.get_by_label("Password", exact=True).fill("root-password-123")
    page.get_by_label("Password again").fill("root-password-123")
    page.screenshot(path=ARTIFACTS / "setup.png")
    page.get_by_role("button", name="Create the administrator").click()

    expect(page.get_by_text("You are the administrator")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("no accounts yet")).to_have_count(0)
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at night")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#grid .tile-live img")).to_be_visible(timeout=15_000)

    assert page.goto(app + "/setup/").status == 404


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("light", {"color_scheme": "light"}),
        ("dark", {"color_scheme": "dark"}),
        ("mobile", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_account_pages_look_right(app, browser, owner, variant, options):
    """Screenshots of every account page, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    site = SiteSettings.load()
    site.signup_mode = SiteSettings.SignupMode.OPEN
    site.save()
    context = browser.new_context(**options)
    page = context.new_page()

    def shot(name: str) -> None:
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top
        page.screenshot(path=ARTIFACTS / f"accounts-{name}-{variant}.png", full_page=True)

    page.goto(app + "/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shot("login-error")
    page.goto(app + "/accounts/signup/")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Email").fill("grace@example")
    page.get_by_label("Password", exact=True).fill("12345678")
    page.get_by_label("Password again").fill("12345679")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    shot("signup-errors")
    page.goto(app + "/accounts/password_reset/")
    shot("password-reset")

    sign_in(page, app, "ada", "ada-password-123")
    expect(page.get_by_test_id("quota")).to_have_text("50 of 50 left today")
    shot("home-quota")
    top_link(page, "ada").click()
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    shot("account")
    page.goto(app + "/accounts/password_change/")
    shot("password-change")
    context.close()
