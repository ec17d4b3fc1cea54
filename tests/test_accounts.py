"""Accounts: the first-run page, sign-up modes and invitations, passwords, deleting an
account."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import Invite
from core.models import SiteSettings
from gallery.models import Generation
from tests.conftest import stored_files

pytestmark = [pytest.mark.web, pytest.mark.django_db]

NEW_PASSWORD = "a-fresh-password-456"


def signup_data(username="grace", email="grace@example.org", password="grace-password-123"):
    return {"username": username, "email": email, "password1": password, "password2": password}


def set_signup_mode(mode: str) -> None:
    site = SiteSettings.load()
    site.signup_mode = mode
    site.save()


def signed_in_as(client: Client) -> str | None:
    user = client.get("/").context["user"]
    return user.get_username() if user.is_authenticated else None


# --- first run ------------------------------------------------------------------------------


def test_first_run_creates_the_administrator_once_then_the_page_is_gone(client):
    home = client.get("/").content.decode()
    assert "Create the administrator account" in home and 'href="/setup/"' in home
    assert "Create the administrator" in client.get("/setup/").content.decode()

    response = client.post("/setup/", signup_data("root", "root@example.org"), follow=True)

    admin = User.objects.get()
    assert (admin.username, admin.is_superuser, admin.is_staff) == ("root", True, True)
    assert signed_in_as(client) == "root"
    assert "You are the administrator" in response.content.decode()
    assert "Create the administrator account" not in client.get("/").content.decode()
    assert client.get("/setup/").status_code == 404
    assert Client().get("/setup/").status_code == 404
    assert client.post("/setup/", signup_data("intruder")).status_code == 404
    assert User.objects.count() == 1


def test_first_run_form_errors_keep_the_page_and_create_nothing(client):
    data = {**signup_data("root"), "password2": "something else"}
    response = client.post("/setup/", data)
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()
    assert not User.objects.exists()


def test_the_first_run_service_refuses_once_anyone_has_an_account(owner):
    with pytest.raises(PermissionDenied):
        services.create_first_admin(username="root", email="r@example.org", password="x" * 12)
    assert not User.objects.filter(is_superuser=True).exists()


@pytest.mark.django_db(transaction=True)
def test_two_people_submitting_the_first_run_form_at_once_make_one_administrator():
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(name: str) -> None:
        try:
            start.wait()
            services.create_first_admin(
                username=name, email=f"{name}@example.org", password="race-password-123"
            )
            outcomes.append("created")
        except PermissionDenied:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["created", "refused"]
    assert User.objects.count() == 1


# --- sign-up modes --------------------------------------------------------------------------


def test_sign_up_is_closed_by_default_and_says_so(owner):
    client = Client()
    page = client.get("/accounts/signup/")
    assert page.status_code == 403
    assert "Sign-up is closed" in page.content.decode()
    assert client.post("/accounts/signup/", signup_data()).status_code == 403
    assert "Create an account" not in client.get("/accounts/login/").content.decode()
    assert not User.objects.filter(username="grace").exists()


def test_open_sign_up_creates_an_account_and_signs_it_in(owner):
    set_signup_mode("open")
    client = Client()
    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/signup/", signup_data(), follow=True)
    assert "Welcome, grace!" in response.content.decode()
    assert signed_in_as(client) == "grace"
    grace = User.objects.get(username="grace")
    assert (grace.email, grace.is_staff) == ("grace@example.org", False)


def test_sign_up_refuses_a_weak_password_and_a_taken_email(owner):
    set_signup_mode("open")
    owner.email = "ada@example.org"
    owner.save()
    weak = Client().post("/accounts/signup/", signup_data(password="12345678"))
    assert "too common" in weak.content.decode()
    taken = Client().post("/accounts/signup/", signup_data(email="ADA@example.org"))
    assert "An account with this email exists already" in taken.content.decode()
    assert not User.objects.filter(username="grace").exists()


def test_an_invitation_lets_exactly_one_person_sign_up(owner):
    set_signup_mode("invite")
    invite = Invite.objects.create(created_by=owner, note="for Grace")
    assert "by invitation" in Client().get("/accounts/signup/").content.decode()

    url = invite.get_absolute_url()
    assert Client().get(url).status_code == 200
    client = Client()
    client.post(url, signup_data())
    assert signed_in_as(client) == "grace"
    invite.refresh_from_db()
    assert invite.used_by.username == "grace" and invite.used_at is not None

    again = Client().post(url, signup_data("mallory", "m@example.org"))
    assert again.status_code == 403
    assert "used already" in again.content.decode()
    assert not User.objects.filter(username="mallory").exists()


def test_an_expired_or_unknown_invitation_is_refused(owner):
    set_signup_mode("invite")
    invite = Invite.objects.create(created_by=owner)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = Client().post(invite.get_absolute_url(), signup_data())
    assert expired.status_code == 403 and "expired" in expired.content.decode()
    unknown = Client().get("/accounts/signup/not-a-real-token/")
    assert unknown.status_code == 403 and "not valid" in unknown.content.decode()
    assert not User.objects.filter(username="grace").exists()


def test_an_invitation_works_while_sign_up_is_closed(owner):
    # Closed is the default mode; the admin lists the invitation as open, and so it is.
    invite = Invite.objects.create(created_by=owner)
    assert "closed" in Client().get("/accounts/signup/").content.decode()
    assert Client().post(invite.get_absolute_url(), signup_data()).status_code == 302
    assert User.objects.filter(username="grace").exists()
    invite.refresh_from_db()
    assert invite.used_at is not None


def test_staff_create_invitations_in_the_admin_and_see_their_link(admin_client, admin_user):
    response = admin_client.post(
        "/admin/accounts/invite/add/",
        {"note": "for Grace", "expires_at_0": "2099-01-01", "expires_at_1": "12:00:00"},
    )
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.created_by == admin_user
    listing = admin_client.get("/admin/accounts/invite/").content.decode()
    assert invite.get_absolute_url() in listing and "Open" in listing


# --- passwords ------------------------------------------------------------------------------


def test_password_reset_mails_a_link_that_sets_a_new_password(owner):
    owner.email = "ada@example.org"
    owner.save()
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "ada@example.org"}, follow=True)
    assert "Check your email" in response.content.decode()

    (message,) = mail.outbox
    assert message.to == ["ada@example.org"] and "Reset your password" in message.subject
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your new password is set" in done.content.decode()
    assert Client().login(username="ada", password=NEW_PASSWORD)
    # The link works once.
    assert "This link does not work" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same():
    response = Client().post("/accounts/password_reset/", {"email": "x@example.org"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_changing_the_password(client, owner):
    client.force_login(owner)
    page = client.get("/accounts/password_change/").content.decode()
    assert "Change your password" in page
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "ada-password-123",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "Password changed" in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_every_registration_page_renders_in_the_sites_layout(client, owner):
    pages = ["/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/"]
    pages += ["/accounts/reset/x/y/", "/accounts/reset/done/"]
    for url in pages:
        page = client.get(url).content.decode()
        assert 'class="card narrow auth-card' in page and "SDXL Gallery" in page, url
    client.force_login(owner)
    for url in ["/accounts/password_change/", "/accounts/password_change/done/", "/accounts/"]:
        page = client.get(url).content.decode()
        assert "card" in page and "Sign out" in page, url


# --- deleting an account --------------------------------------------------------------------


@pytest.fixture
def own_images(owner, finished):
    """The owner's images: `finished` (public, with files) and a private one with files."""
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    private = Generation.objects.get(pk=finished.pk)
    private.pk, private.public_id = None, "privateimage1"
    private.visibility = Generation.Visibility.PRIVATE
    private.save()
    # Give the private copy files of its own, so that deleting one does not hide the other.
    for source in finished.file_fields():
        copy = source.storage.save(source.name.replace(".", "-private."), source.open())
        setattr(private, source.field.name, copy)
    private.save()
    return finished, private


def test_deleting_my_account_needs_my_password(client, owner, own_images):
    client.force_login(owner)
    page = client.get("/accounts/").content.decode()
    assert "all 2 of your images are deleted" in page
    response = client.post("/accounts/delete/", {"password": "wrong"})
    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()


def test_deleting_an_account_deletes_its_images_and_files_by_default(
    client, owner, own_images, media_root, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/delete/", {"password": "ada-password-123"}, follow=True)
    assert "Your account has been deleted." in response.content.decode()
    assert signed_in_as(client) is None
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Generation.objects.exists()
    assert stored_files(media_root) == []


def test_anonymising_keeps_public_images_without_an_owner_and_deletes_private_ones(
    client, owner, own_images, media_root, django_capture_on_commit_callbacks
):
    public, _private = own_images
    site = SiteSettings.load()
    site.account_deletion = SiteSettings.AccountDeletion.ANONYMISE_IMAGES
    site.save()
    client.force_login(owner)
    assert "Your public images stay in the gallery" in client.get("/accounts/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/delete/", {"password": "ada-password-123"})

    (kept,) = Generation.objects.all()
    assert (kept.pk, kept.owner) == (public.pk, None)
    assert stored_files(media_root) == sorted(f.name for f in public.file_fields())
    assert Client().get(public.get_absolute_url()).status_code == 200  # still public
    assert Client().get(public.thumbnail_url).status_code == 200


def test_staff_deleting_a_user_in_the_admin_follows_the_same_policy(
    admin_client, owner, own_images, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"}, follow=True
        )
    assert response.status_code == 200
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Generation.objects.exists()
    assert stored_files(media_root) == []


def test_the_only_administrator_cannot_delete_their_own_account(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/accounts/delete/", {"password": "password"}, follow=True)
    assert "You are the only administrator" in response.content.decode()
    assert User.objects.filter(pk=admin_user.pk).exists()
