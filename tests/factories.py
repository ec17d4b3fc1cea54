"""The suite's fixed cast and its common rows, as plain functions. tests/conftest.py offers the
people as fixtures of the same names (`owner`, `other_user`, `moderator`, `visitor`).

The people, the same in every test:

    owner()       "ada", a signed-up user without staff rights, whose images they usually are
    other_user()  "bob", another signed-up user
    moderator()   "mod", staff with the admin's view and change permissions on generations
    visitor()     an anonymous browser: a test client signed in as nobody

Each person is made the first time a test asks for them, and is the same row afterwards.
(The administrator is pytest-django's own `admin_user` / `admin_client`.)
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Permission
from django.test import Client

from gallery.models import Generation

OWNER_PASSWORD = "ada-password-123"
OTHER_USER_PASSWORD = "bob-password-123"
MODERATOR_PASSWORD = "mod-password-123"


def _person(username: str, password: str, **flags) -> tuple[AbstractUser, bool]:
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is not None:
        return user, False
    return users.create_user(username, password=password, **flags), True


def owner() -> AbstractUser:
    return _person("ada", OWNER_PASSWORD)[0]


def other_user() -> AbstractUser:
    return _person("bob", OTHER_USER_PASSWORD)[0]


def moderator() -> AbstractUser:
    user, made = _person("mod", MODERATOR_PASSWORD, is_staff=True)
    if made:
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="gallery",
                codename__in=["view_generation", "change_generation"],
            )
        )
    return user


def visitor() -> Client:
    return Client()


def signed_in(user, **client_args) -> Client:
    """A test client with `user` signed in (client_args as for Client: enforce_csrf_checks...)."""
    client = Client(**client_args)
    client.force_login(user)
    return client


# --- Rows -----------------------------------------------------------------------------------


def make_done(prompt: str = "done", **fields) -> Generation:
    """A succeeded row without running the pipeline, for pages that never open the files."""
    return Generation.objects.create(
        prompt=prompt,
        status=Generation.Status.SUCCEEDED,
        original="originals/xx/x.jpg",
        thumbnail="thumbnails/xx/x-256.webp",
        thumbnail_2x="thumbnails/xx/x-512.webp",
        sha256="0" * 64,
        width=1024,
        height=1024,
        **fields,
    )


def make_failed(
    prompt: str = "a red fox", reason: str = "The endpoint was down.", **fields
) -> Generation:
    """A failed row with its reason, as the pipeline leaves one (no files)."""
    return Generation.objects.create(
        prompt=prompt, status=Generation.Status.FAILED, failure_reason=reason, **fields
    )
