"""Single sign-on in a real browser, through a real OpenID Connect provider (django-oidc-
provider in a second process on 127.0.0.1): the button, the provider's own sign-in form, the
way back, sign-out and a second sign-in; invitation mode refusing a stranger."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts.models import OidcIdentity
from core.models import SiteSettings
from tests.oidc_provider import PEOPLE, Provider, use_provider
from tests.test_browser import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    running = Provider(
        tmp_path_factory.mktemp("provider"), live_server.url + "/oidc/callback/"
    ).start()
    yield running
    running.stop()


@pytest.fixture
def gallery(live_server, provider, settings, no_limits):
    use_provider(settings, provider)
    return live_server.url


def set_signup_mode(mode: str) -> None:
    site = SiteSettings.load()
    site.signup_mode = mode
    site.save()


def through_the_provider(page, username: str) -> None:
    """On the provider's sign-in form: sign in there."""
    expect(page.get_by_role("heading", name="Test Provider")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PEOPLE[username][0])
    page.get_by_role("button", name="Log in at the provider").click()


def test_sign_in_sign_out_and_sign_in_again_to_the_same_account(gallery, page):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    page.goto(gallery + "/accounts/login/")
    page.get_by_role("link", name="Sign in with Test Provider").click()
    through_the_provider(page, "alice")

    expect(page).to_have_url(gallery + "/")
    expect(page.get_by_text("Signed in as alice.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    alice = User.objects.get(username="alice")
    assert OidcIdentity.objects.filter(user=alice).count() == 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()

    # Still signed in at the provider: the button brings alice straight back.
    page.goto(gallery + "/accounts/login/")
    page.get_by_role("link", name="Sign in with Test Provider").click()
    expect(page.get_by_text("Signed in as alice.")).to_be_visible()
    page.goto(gallery + "/accounts/")
    expect(page.get_by_role("heading", name="alice", exact=True)).to_be_visible()
    assert User.objects.count() == 1


def test_invitation_mode_refuses_a_stranger_with_a_clear_page(gallery, page):
    set_signup_mode(SiteSettings.SignupMode.INVITE)
    page.goto(gallery + "/accounts/login/")
    page.get_by_role("link", name="Sign in with Test Provider").click()
    through_the_provider(page, "stranger")

    expect(page.get_by_role("heading", name="Sign-in did not work")).to_be_visible()
    expect(page.get_by_test_id("sso-failed")).to_contain_text("by invitation")
    page.screenshot(path=ARTIFACTS / "oidc-refused.png", full_page=True)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert not User.objects.exists()
    page.get_by_role("link", name="Back to sign-in").click()
    expect(page).to_have_url(gallery + "/accounts/login/")


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("light", {"color_scheme": "light", "viewport": {"width": 1440, "height": 900}}),
        ("dark", {"color_scheme": "dark", "viewport": {"width": 1440, "height": 900}}),
        ("phone-light", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}}),
        ("phone-dark", {"color_scheme": "dark", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_the_sign_in_page_with_its_button_looks_right(gallery, browser, variant, options):
    """Screenshots for a person to look at; on a phone nothing scrolls sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    page = browser.new_context(**options).new_page()
    page.goto(gallery + "/accounts/login/")
    button = page.get_by_role("link", name="Sign in with Test Provider")
    expect(button).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=ARTIFACTS / f"oidc-login-{variant}.png", full_page=True)
    page.context.close()
