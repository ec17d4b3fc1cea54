"""Single sign-on against a real OpenID Connect provider: django-oidc-provider in a second
Django process on 127.0.0.1 (tests/oidc_provider), the whole authorization-code flow over
HTTP with a cookie-keeping client, as a browser does it."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from accounts.models import Invite, OidcIdentity
from core.models import SiteSettings
from tests.oidc_provider import PEOPLE, Provider, use_provider

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


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


def sign_in_through_provider(
    browser: requests.Session, gallery: str, username: str, start: str = "/oidc/start/"
) -> requests.Response:
    """Start at the gallery, sign in at the provider's own form, follow it back."""
    page = browser.get(start if start.startswith("http") else gallery + start, timeout=20)
    if "Log in at the provider" in page.text:
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        page = browser.post(
            page.url,
            data={
                "csrfmiddlewaretoken": csrf,
                "username": username,
                "password": PEOPLE[username][0],
                "next": parse_qs(urlsplit(page.url).query)["next"][0],
            },
            headers={"Referer": page.url},
            timeout=20,
        )
    return page


def signed_in_user(browser: requests.Session, gallery: str) -> str | None:
    """Whose account page this browser sees, if any."""
    page = browser.get(gallery + "/accounts/", timeout=10, allow_redirects=False)
    if page.status_code != 200:
        return None
    return re.search(r"<h1>([^<]+)</h1>", page.text).group(1)


def test_first_sign_in_creates_an_account_and_the_second_finds_it(gallery, provider):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    browser = requests.Session()
    landed = sign_in_through_provider(browser, gallery, "alice")
    assert landed.status_code == 200
    assert landed.url == gallery + "/"
    assert "Signed in as alice." in landed.text
    assert signed_in_user(browser, gallery) == "alice"
    alice = User.objects.get(username="alice")
    assert alice.email == "alice@example.org"  # verified by the provider
    assert not alice.has_usable_password()
    identity = OidcIdentity.objects.get(user=alice)
    assert identity.issuer == provider.issuer

    # Signed out of the gallery, still signed in at the provider: straight back in, to
    # the same account.
    browser.post(
        gallery + "/accounts/logout/",
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": gallery + "/"},
        timeout=10,
    )
    assert signed_in_user(browser, gallery) is None
    again = sign_in_through_provider(browser, gallery, "alice")
    assert again.status_code == 200
    assert signed_in_user(browser, gallery) == "alice"
    assert User.objects.filter(username__startswith="alice").count() == 1
    assert OidcIdentity.objects.count() == 1


def test_invitation_mode_refuses_a_stranger_and_accepts_an_invited_one(gallery):
    set_signup_mode(SiteSettings.SignupMode.INVITE)
    refused = sign_in_through_provider(requests.Session(), gallery, "stranger")
    assert refused.status_code == 403
    assert "Sign-up on this gallery is by invitation" in refused.text
    assert not User.objects.exists()

    invite = Invite.objects.create(note="for the stranger")
    accepted = sign_in_through_provider(
        requests.Session(), gallery, "stranger", start=f"/oidc/start/?invite={invite.token}"
    )
    assert accepted.status_code == 200
    invite.refresh_from_db()
    assert invite.used_by == User.objects.get(username="stranger")


def test_a_disabled_account_is_refused(gallery):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    sign_in_through_provider(requests.Session(), gallery, "alice")
    User.objects.filter(username="alice").update(is_active=False)
    browser = requests.Session()
    refused = sign_in_through_provider(browser, gallery, "alice")
    assert refused.status_code == 403
    assert "This account is disabled" in refused.text
    assert signed_in_user(browser, gallery) is None


def test_a_replayed_callback_gives_a_clear_page_not_a_500(gallery):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    browser = requests.Session()
    landed = sign_in_through_provider(browser, gallery, "alice")
    callback = next(r for r in landed.history if "/oidc/callback/" in r.url)
    replay = requests.Session().get(callback.url, timeout=10)
    assert replay.status_code == 400
    assert "This sign-in has expired, was already used" in replay.text


def test_an_unreachable_provider_gives_a_clear_page(gallery, settings):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    browser = requests.Session()
    page = browser.get(gallery + "/oidc/start/", timeout=20)
    assert "Log in at the provider" in page.text
    # The provider goes away between the start and the callback.
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    failed = browser.post(
        page.url,
        data={
            "csrfmiddlewaretoken": csrf,
            "username": "alice",
            "password": PEOPLE["alice"][0],
            "next": parse_qs(urlsplit(page.url).query)["next"][0],
        },
        headers={"Referer": page.url},
        timeout=20,
    )
    assert failed.status_code == 502
    assert "could not be reached" in failed.text
    assert not User.objects.exists()


def test_an_id_token_with_another_nonce_is_refused(gallery):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    browser = requests.Session()
    page = browser.get(gallery + "/oidc/start/", timeout=20)
    # What the gallery expects no longer matches what the provider will sign (as when an
    # attacker injects a code issued for someone else's sign-in).
    store = SessionStore(browser.cookies["sessionid"])
    for entry in store["oidc_states"].values():
        entry["nonce"] = "another-nonce"
    store.save()
    refused = sign_in_through_provider(browser, gallery, "alice", start=page.url)
    assert refused.status_code == 400
    assert "could not be verified" in refused.text
    assert not User.objects.exists()


def test_an_id_token_from_another_issuer_is_refused(gallery, settings):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    settings.OIDC_OP_ISSUER = "https://elsewhere.example.org"
    refused = sign_in_through_provider(requests.Session(), gallery, "alice")
    assert refused.status_code == 400
    assert "could not be verified" in refused.text
    assert not User.objects.exists()
