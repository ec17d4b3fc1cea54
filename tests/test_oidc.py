"""Single sign-on in-process: what the provider's claims become, the sign-up modes for
accounts created at a first sign-in, and the pages every failed callback shows."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from accounts import oidc, services
from accounts.models import Invite, OidcIdentity
from core.models import SiteSettings

pytestmark = [pytest.mark.web, pytest.mark.django_db]

ISSUER = "https://id.example.org"


@pytest.fixture
def sso(settings, no_limits):
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example ID"
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID = "gallery"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = ISSUER + "/authorize"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.oidc.Backend",
    ]
    return settings


def set_signup_mode(mode: str) -> None:
    site = SiteSettings.load()
    site.signup_mode = mode
    site.save()


def claims(subject="s-1", email="kim@example.org", verified=True, username="kim"):
    return services.SsoClaims(
        issuer=ISSUER, subject=subject, email=email, email_verified=verified, username=username
    )


# --- Claims ---------------------------------------------------------------------------------


def test_claims_take_the_identity_from_the_id_token_and_the_rest_from_userinfo():
    mapped = oidc.claims_from(
        {"iss": ISSUER, "sub": "abc"},
        {
            "sub": "abc",
            "email": "kim@example.org",
            "email_verified": "true",
            "preferred_username": "kim",
            "name": "Kim Lee",
        },
    )
    assert mapped == services.SsoClaims(ISSUER, "abc", "kim@example.org", True, "kim", "Kim Lee")
    assert not oidc.claims_from({"iss": ISSUER, "sub": "abc"}, {"sub": "abc"}).email_verified


def test_userinfo_about_another_subject_is_refused():
    with pytest.raises(SuspiciousOperation):
        oidc.claims_from({"iss": ISSUER, "sub": "abc"}, {"sub": "someone-else"})


# --- Accounts: found, connected, created under the sign-up mode ------------------------------


def test_open_sign_up_creates_an_account_without_a_password_and_finds_it_again():
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    user = services.sso_sign_in(claims())
    assert (user.username, user.email) == ("kim", "kim@example.org")
    assert not user.has_usable_password()
    assert services.sso_sign_in(claims(email="new@example.org")) == user
    assert User.objects.count() == 1


def test_a_taken_username_gets_a_number_and_odd_characters_go():
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    User.objects.create_user("kim")
    assert services.sso_sign_in(claims(username="Kim")).username == "Kim2"
    assert services.sso_sign_in(claims(subject="s-2", username="a b/c")).username == "abc"


def test_an_unverified_email_neither_finds_an_account_nor_is_stored():
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    existing = User.objects.create_user("kim", email="kim@example.org", password="x" * 12)
    user = services.sso_sign_in(claims(verified=False))
    assert user != existing
    assert user.email == ""


def test_a_verified_email_connects_an_ordinary_account_but_never_an_administrator():
    set_signup_mode(SiteSettings.SignupMode.CLOSED)
    existing = User.objects.create_user("kim", email="Kim@Example.org", password="x" * 12)
    assert services.sso_sign_in(claims()) == existing
    assert OidcIdentity.objects.get(user=existing).subject == "s-1"

    User.objects.create_superuser("root", email="root@example.org", password="x" * 12)
    with pytest.raises(services.SignupClosed):
        services.sso_sign_in(claims(subject="s-root", email="root@example.org"))


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (SiteSettings.SignupMode.INVITE, "by invitation"),
        (SiteSettings.SignupMode.CLOSED, "Sign-up is closed"),
    ],
)
def test_a_stranger_is_refused_when_sign_up_is_not_open(mode, reason):
    set_signup_mode(mode)
    with pytest.raises(services.SignupClosed, match=reason):
        services.sso_sign_in(claims())
    assert not User.objects.exists()
    assert not OidcIdentity.objects.exists()


def test_an_invitation_lets_one_person_in_once():
    set_signup_mode(SiteSettings.SignupMode.CLOSED)
    invite = Invite.objects.create()
    user = services.sso_sign_in(claims(), invite.token)
    invite.refresh_from_db()
    assert invite.used_by == user
    with pytest.raises(services.SignupClosed, match="used already"):
        services.sso_sign_in(claims(subject="s-2", username="lee"), invite.token)
    assert User.objects.count() == 1


# --- The pages -------------------------------------------------------------------------------


def test_the_button_shows_only_when_single_sign_on_is_on(client, settings):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example ID"
    page = client.get("/accounts/login/?next=/history/").content.decode()
    assert 'href="/oidc/start/?next=/history/"' in page
    assert "Sign in with Example ID" in page
    invite = Invite.objects.create()
    page = client.get(f"/accounts/signup/{invite.token}/").content.decode()
    assert f'href="/oidc/start/?invite={invite.token}"' in page


def test_off_the_start_and_callback_are_not_found(client):
    assert client.get("/oidc/start/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_the_start_sends_the_browser_to_the_provider_with_state_nonce_and_pkce(client, sso):
    response = client.get("/oidc/start/?invite=abc")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(ISSUER + "/authorize?")
    for part in ("state=", "nonce=", "code_challenge=", "client_id=gallery"):
        assert part in location
    assert client.session[oidc.INVITE_SESSION_KEY] == "abc"


@pytest.mark.parametrize(
    "query",
    ["", "?code=abc", "?state=abc", "?code=abc&state=forged"],
)
def test_a_callback_without_a_matching_state_says_to_start_again(client, sso, query):
    client.get("/oidc/start/")  # a sign-in in progress, with its own state
    response = client.get("/oidc/callback/" + query)
    assert response.status_code == 400
    assert "Start again from the sign-in page" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_provider_refusing_is_said_plainly(client, sso):
    client.get("/oidc/start/")
    state = next(iter(client.session["oidc_states"]))
    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")
    assert response.status_code == 400
    assert "Example ID did not sign you in" in response.content.decode()
    assert "access_denied" in response.content.decode()
    assert state not in client.session.get("oidc_states", {})


def test_a_deactivated_account_loses_its_single_sign_on_session(sso):
    set_signup_mode(SiteSettings.SignupMode.OPEN)
    user = services.sso_sign_in(claims())
    browser = Client()
    browser.force_login(user, backend="accounts.oidc.Backend")
    assert browser.get("/accounts/").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert browser.get("/accounts/").status_code == 302
