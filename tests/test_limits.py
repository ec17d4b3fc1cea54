"""Quotas and rate limits: what a user is allowed, and what they are told when they are not."""

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, RequestFactory

from accounts import limits, throttle, tokens
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
    no_limits.GALLERY_MAX_WAITING = 1
    staff = signed_in(moderator)
    assert "left today" not in staff.get("/").content.decode()
    assert [generate(staff).status_code for _ in range(3)] == [302, 302, 302]


def test_images_waiting_are_capped_until_one_starts(client, owner, no_limits):
    no_limits.GALLERY_MAX_WAITING = 2
    no_limits.GALLERY_DAILY_QUOTA = 10
    generate(client)
    generate(client)
    refused = generate(client)
    assert refused.status_code == 400
    assert "You already have 2 images waiting in the queue" in refused.content.decode()
    # A refused submission costs nothing: still 8 of the day's 10 left.
    assert "8 of 10 left today" in refused.content.decode()

    Generation.objects.filter(owner=owner).filter(pk=Generation.objects.first().pk).update(
        status=Generation.Status.RUNNING
    )
    assert generate(client).status_code == 302  # what runs does not count


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


# --- Sign-in delays per account (accounts.throttle) -----------------------------------------

RIGHT = "ada-password-123"  # tests/factories.py
DELAYED = "Too many failed sign-ins for this account. Try again in"


@pytest.fixture
def account_delays(no_limits):
    """The per-account delays on, as by default (5 free failures, then 5 s doubling up to
    15 min); every other limit off."""
    no_limits.GALLERY_SIGNIN_ACCOUNT_FREE_FAILURES = 5
    no_limits.GALLERY_SIGNIN_ACCOUNT_MAX_DELAY = 900
    return no_limits


@pytest.fixture
def at(monkeypatch):
    """Move the limits' clock to `seconds` after NOW."""

    def move(seconds: float) -> None:
        monkeypatch.setattr(limits, "clock", lambda: NOW + timedelta(seconds=seconds))

    return move


@pytest.fixture
def checked():
    """The usernames whose wrong passwords were actually checked, one entry per check."""
    seen: list[str] = []

    def count(sender, credentials, **kwargs):
        seen.append(credentials["username"])

    user_login_failed.connect(count)
    yield seen
    user_login_failed.disconnect(count)


def sign_in(username: str, password: str, ip: str = "198.51.100.1", path="/accounts/login/"):
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


def test_thirty_wrong_passwords_from_thirty_addresses_are_not_all_checked(
    owner, account_delays, checked
):
    # The per-address limit is on and believes the proxy's header, as behind nginx: each
    # attempt comes from a fresh address, so only the per-account delay can stop them.
    account_delays.GALLERY_IP_RATES = {**account_delays.GALLERY_IP_RATES, "signin": "10/5m"}
    account_delays.GALLERY_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    statuses = [
        Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        .post("/accounts/login/", {"username": "ada", "password": f"guess-{i}"})
        .status_code
        for i in range(30)
    ]
    # Five free failures, a sixth that starts the delay; the other 24 are never checked.
    assert statuses == [200] * 6 + [429] * 24
    assert checked == ["ada"] * 6
    # During the delay even the right password is not checked.
    refused = sign_in("ada", RIGHT, ip="203.0.113.99")
    assert refused.status_code == 429
    assert not refused.wsgi_request.user.is_authenticated


def test_the_refusal_is_a_429_on_the_sign_in_form_saying_when(owner, account_delays):
    for _ in range(6):
        sign_in("ada", "wrong")
    refused = sign_in("ada", "wrong")
    page = refused.content.decode()
    assert refused.status_code == 429
    assert refused["Retry-After"] == "5"
    assert f"{DELAYED} 5 s." in page
    assert 'name="username" value="ada"' in page  # the form is shown again, name kept
    assert "Forgot it?" in page  # and the way to reset the password


@pytest.mark.django_db(transaction=True)
def test_thirty_wrong_passwords_at_once_are_not_all_checked(owner, account_delays, checked):
    start = threading.Barrier(30)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        try:
            client = Client(REMOTE_ADDR=f"203.0.113.{i}")
            start.wait()
            data = {"username": "ada", "password": f"guess-{i}"}
            statuses.append(client.post("/accounts/login/", data).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] * 6 + [429] * 24
    assert len(checked) == 6


def test_the_delay_grows_and_then_the_right_password_works(owner, account_delays, at, checked):
    for _ in range(6):
        assert sign_in("ada", "wrong").status_code == 200
    assert f"{DELAYED} 5 s." in sign_in("ada", "wrong").content.decode()
    at(4)
    assert f"{DELAYED} 1 s." in sign_in("ada", RIGHT).content.decode()
    at(5)  # the delay is over: one more check, and a longer delay after it
    assert sign_in("ada", "wrong").status_code == 200
    assert f"{DELAYED} 10 s." in sign_in("ada", "wrong").content.decode()
    at(15)
    assert sign_in("ada", "wrong").status_code == 200
    assert sign_in("ada", "wrong")["Retry-After"] == "20"
    assert len(checked) == 8  # the refused attempts were not checked, nor did they count
    at(35)
    signed_in = sign_in("ada", RIGHT)
    assert signed_in.status_code == 302 and signed_in.wsgi_request.user == owner


def test_delays_double_up_to_the_cap_and_can_be_turned_off(account_delays):
    assert [throttle.delay_after(n) for n in (1, 5, 6, 7, 8, 9)] == [0, 0, 5, 10, 20, 40]
    assert throttle.delay_after(13) == 640
    assert throttle.delay_after(14) == throttle.delay_after(10_000) == 900
    account_delays.GALLERY_SIGNIN_ACCOUNT_MAX_DELAY = 0
    for _ in range(30):
        throttle.count_attempt("ada")  # never refused


def test_a_successful_sign_in_clears_the_failures(owner, account_delays, checked):
    for _ in range(5):
        sign_in("ada", "wrong")
    assert sign_in("ada", RIGHT).status_code == 302
    # Five free failures again, then the sixth starts a delay.
    assert [sign_in("ada", "wrong").status_code for _ in range(7)] == [200] * 6 + [429]
    assert len(checked) == 11


def test_a_quiet_day_forgets_the_failures(owner, account_delays, at):
    for _ in range(5):
        sign_in("ada", "wrong")
    at(86400 + 1)
    assert [sign_in("ada", "wrong").status_code for _ in range(7)] == [200] * 6 + [429]


def test_someone_hammering_bobs_name_cannot_stop_ada_signing_in(
    owner, other_user, account_delays, checked
):
    for i in range(30):
        sign_in("bob", "guess", ip=f"203.0.113.{i}")
    assert sign_in("bob", "bob-password-123").status_code == 429  # bob waits
    assert checked == ["bob"] * 6
    assert sign_in("ada", "wrong").status_code == 200  # ada's own failures are still free
    assert sign_in("ada", RIGHT).status_code == 302


def test_the_username_counts_however_it_is_typed_and_whether_or_not_it_exists(
    owner, account_delays
):
    full_width = "\uff41\uff44\uff41"  # "ada" in full-width letters: NFKC makes it "ada"
    for name in ["ada", "ADA", " Ada ", full_width, "aDa", "ada"]:
        assert sign_in(name, "wrong").status_code == 200
    assert sign_in("Ada", RIGHT).status_code == 429
    # A name nobody has is answered exactly alike: the answer tells no one who has an account.
    for _ in range(6):
        assert sign_in("nobody", "wrong").status_code == 200
    refused = sign_in("nobody", "wrong")
    assert refused.status_code == 429 and f"{DELAYED} 5 s." in refused.content.decode()


def test_password_reset_works_during_a_delay_and_ends_it(owner, account_delays):
    owner.email = "ada@example.org"
    owner.save()
    for _ in range(7):
        sign_in("ada", "wrong")
    assert sign_in("ada", RIGHT).status_code == 429
    client = Client()
    client.post("/accounts/password_reset/", {"email": "ada@example.org"})
    (message,) = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", message.body).group(1)
    form = client.get(link, follow=True)
    new = "a-fresh-password-456"
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert "Your new password is set" in done.content.decode()
    assert sign_in("ada", new).status_code == 302  # no waiting out the attacker's delay


def test_deleting_the_account_asks_for_the_password_under_the_same_delay(owner, account_delays):
    client = Client()
    client.force_login(owner)
    statuses = [client.post("/accounts/delete/", {"password": "wrong"}).status_code]
    statuses += [client.post("/accounts/delete/", {"password": "wrong"}).status_code]
    for _ in range(4):
        sign_in("ada", "wrong")  # one count for the account, whichever form checks it
    refused = client.post("/accounts/delete/", {"password": RIGHT})
    assert statuses == [400, 400]
    assert refused.status_code == 429 and refused["Retry-After"] == "5"
    assert f"{DELAYED} 5 s." in refused.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()
    assert sign_in("ada", RIGHT).status_code == 429


def test_changing_the_password_checks_the_old_one_under_the_same_delay(owner, account_delays):
    client = Client()
    client.force_login(owner)
    new = "a-fresh-password-456"

    def change(old: str):
        data = {"old_password": old, "new_password1": new, "new_password2": new}
        return client.post("/accounts/password_change/", data)

    assert [change("wrong").status_code for _ in range(6)] == [200] * 6
    refused = change(RIGHT)
    assert refused.status_code == 429 and f"{DELAYED} 5 s." in refused.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(RIGHT)


def test_the_admin_sign_in_checks_passwords_under_the_same_delay(
    moderator, account_delays, checked
):
    for _ in range(7):
        sign_in("mod", "wrong", path="/admin/login/")
    refused = sign_in("mod", "mod-password-123", path="/admin/login/")
    assert f"{DELAYED} 5 s." in refused.content.decode()
    assert not refused.wsgi_request.user.is_authenticated
    assert checked == ["mod"] * 6
    assert sign_in("mod", "mod-password-123").status_code == 429  # the same count


def test_the_admin_sign_in_is_limited_per_address_too(moderator, no_limits, checked):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "signin": "3/5m"}
    # Different usernames each time: only the per-address limit can stop these.
    for name in ("a1", "a2", "a3"):
        sign_in(name, "wrong", path="/admin/login/")
    limited = sign_in("mod", "mod-password-123", path="/admin/login/")
    assert "Too many sign-in attempts from your network. Try again in 3 min." in (
        limited.content.decode()
    )
    assert not limited.wsgi_request.user.is_authenticated
    assert checked == ["a1", "a2", "a3"]
    # The same count as the main sign-in page's.
    assert sign_in("mod", "mod-password-123").status_code == 429


def test_tokens_are_not_delayed(owner, account_delays):
    token = tokens.issue(owner, "script")[1]
    for _ in range(7):
        sign_in("ada", "wrong")
    response = Client().get("/api/v1/generations", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
