"""Quotas and rate limits: what a user is allowed, and what they are told when they are not."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from accounts import limits
from core import http
from core.models import SiteSettings
from gallery.models import Generation
from gallery.services import quotas
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


NOW = datetime(2026, 3, 1, 21, 32, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """A fixed time, so a window never ends in the middle of a test."""
    monkeypatch.setattr(limits, "clock", lambda: NOW)


def generate(client, prompt="a red fox", **extra):
    return client.post("/generate", {"prompt": prompt, "negative_prompt": ""}, **extra)


def test_the_form_says_how_many_images_are_left_today(client, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 3
    assert "3 of 3 left today" in client.get("/").content.decode()
    generate(client)
    assert "2 of 3 left today" in client.get("/").content.decode()


def test_the_daily_quota_refuses_with_when_to_try_again(client, owner, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 2
    assert generate(client).status_code == 302
    assert generate(client).status_code == 302
    refused = generate(client, "a third fox")
    page = refused.content.decode()
    assert refused.status_code == 400
    assert (
        "You have used all 2 images for today. You can generate again in 2 h 28 min "
        "(the quota resets at 00:00 UTC)." in page
    )
    assert "0 of 2 left today · more in 2 h 28 min" in page
    assert "a third fox" in page  # the prompt is kept
    assert Generation.objects.filter(owner=owner).count() == 2


def test_a_refusal_says_in_seconds_when_to_retry(owner, no_limits):
    """What the APIs put in Retry-After: the end of the window, never a time in the past."""
    no_limits.GALLERY_DAILY_QUOTA = 1
    quotas.charge_submission(owner)
    with pytest.raises(quotas.SubmissionRefused) as refused:
        quotas.charge_submission(owner)
    assert refused.value.code == "quota"
    assert refused.value.retry_after == 2 * 3600 + 27 * 60 + 30  # until midnight UTC


def test_the_quota_resets_with_the_day():
    rate = limits.Rate(2, 86400)
    evening = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert limits.consume("quota:x", rate, evening).allowed
    assert limits.consume("quota:x", rate, evening).allowed
    full = limits.consume("quota:x", rate, evening)
    assert not full.allowed and full.resets_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert limits.in_words((full.resets_at - evening).total_seconds()) == "30 min"
    assert limits.consume("quota:x", rate, evening + timedelta(minutes=31)).allowed


def test_staff_have_no_quota(moderator, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 1
    no_limits.GALLERY_MAX_IN_FLIGHT = 1
    staff = signed_in(moderator)
    assert "left today" not in staff.get("/").content.decode()
    assert [generate(staff).status_code for _ in range(3)] == [302, 302, 302]


def test_images_in_progress_are_capped_until_one_finishes(client, owner, no_limits):
    no_limits.GALLERY_MAX_IN_FLIGHT = 2
    no_limits.GALLERY_DAILY_QUOTA = 10
    generate(client)
    generate(client)
    refused = generate(client)
    assert refused.status_code == 400
    assert "You already have 2 images in progress" in refused.content.decode()
    # A refused submission costs nothing: still 8 of the day's 10 left.
    assert "8 of 10 left today" in refused.content.decode()

    Generation.objects.filter(owner=owner).filter(pk=Generation.objects.first().pk).update(
        status=Generation.Status.FAILED, failure_reason="test"
    )
    assert generate(client).status_code == 302


def test_submissions_per_address_are_rate_limited(client, no_limits):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "submit": "2/m"}
    assert [generate(client).status_code for _ in range(2)] == [302, 302]
    refused = generate(client)
    assert refused.status_code == 400
    assert "Too many images requested from your network. Try again in 30 s." in (
        refused.content.decode()
    )
    # Another address is not affected.
    assert generate(client, REMOTE_ADDR="192.0.2.7").status_code == 302


def test_sign_in_attempts_per_address_are_rate_limited(owner, no_limits):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "signin": "3/5m"}
    client = Client()
    wrong = {"username": "ada", "password": "wrong"}
    assert [client.post("/accounts/login/", wrong).status_code for _ in range(3)] == [200] * 3
    right = {"username": "ada", "password": "ada-password-123"}
    limited = client.post("/accounts/login/", right)
    assert limited.status_code == 429
    assert "Too many sign-in attempts from your network. Try again in 3 min." in (
        limited.content.decode()
    )
    assert not limited.wsgi_request.user.is_authenticated
    assert Client(REMOTE_ADDR="192.0.2.7").post("/accounts/login/", right).status_code == 302


def test_password_reset_requests_per_address_are_rate_limited(no_limits):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "reset": "1/h"}
    client = Client()
    assert client.post("/accounts/password_reset/", {"email": "a@example.org"}).status_code == 302
    limited = client.post("/accounts/password_reset/", {"email": "a@example.org"})
    assert limited.status_code == 429 and "Try again in" in limited.content.decode()


@pytest.mark.parametrize(
    ("header_setting", "meta", "expected"),
    [
        ("", {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, "10.0.0.1"),  # header not trusted
        ("X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.9"}, "203.0.113.9"),
        ("X-Real-IP", {"HTTP_X_REAL_IP": "203.0.113.9"}, "203.0.113.9"),
        ("X-Real-IP", {}, "10.0.0.1"),  # header missing: the connection's address
    ],
)
def test_the_client_address_comes_from_the_trusted_header_only(
    settings, header_setting, meta, expected
):
    settings.GALLERY_TRUSTED_PROXY_HEADER = header_setting
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **meta)
    assert http.client_ip(request) == expected


def test_ipv6_clients_are_counted_per_64_block():
    request = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")
    assert http.client_ip(request) == "2001:db8:1:2::/64"


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("30/m", limits.Rate(30, 60)),
        ("10/5m", limits.Rate(10, 300)),
        ("50/d", limits.Rate(50, 86400)),
        ("0", None),
        ("", None),
    ],
)
def test_rates_are_parsed_from_settings(text, rate):
    assert limits.Rate.parse(text) == rate


def test_a_malformed_rate_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured):
        limits.Rate.parse("thirty per minute")


def test_sign_ups_per_address_are_rate_limited_with_a_429_page(no_limits):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "signup": "1/h"}
    site = SiteSettings.load()
    site.signup_mode = SiteSettings.SignupMode.OPEN
    site.save()
    form = {"username": "grace", "email": "g@example.org"}
    form |= {"password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
    assert Client().post("/accounts/signup/", form).status_code == 302
    limited = Client().post("/accounts/signup/", {**form, "username": "hopper"})
    # It once answered 200 with the status as its Content-Type ("429").
    assert limited.status_code == 429
    assert limited["Content-Type"].startswith("text/html")
    assert "Try again in" in limited.content.decode()
