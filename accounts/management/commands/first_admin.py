"""`manage.py first_admin`: the first administrator from the environment, for containers and
other unattended installs (scripts/container-start runs it at every start).

GALLERY_ADMIN_USERNAME, GALLERY_ADMIN_EMAIL and GALLERY_ADMIN_PASSWORD name the account. It
is made only while nobody has an account, through the same form checks and the same service
as the /setup/ page; with none of the variables set it does nothing and /setup/ stays open.
The password is never printed."""

import os

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.forms import SignupForm

VARIABLES = ("GALLERY_ADMIN_USERNAME", "GALLERY_ADMIN_EMAIL", "GALLERY_ADMIN_PASSWORD")


class Command(BaseCommand):
    help = "Create the first administrator from GALLERY_ADMIN_* if no account exists yet."

    def handle(self, *args, **options) -> None:
        values = {name: os.environ.get(name, "") for name in VARIABLES}
        if not any(values.values()):
            if services.needs_setup():
                self.stderr.write("No administrator yet: open /setup/ to create one.")
            return
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise CommandError(f"Set all of {', '.join(VARIABLES)}; missing: {', '.join(missing)}.")
        if not services.needs_setup():
            self.stderr.write("Accounts exist already: GALLERY_ADMIN_* left unused.")
            return
        password = values["GALLERY_ADMIN_PASSWORD"]
        form = SignupForm(
            {
                "username": values["GALLERY_ADMIN_USERNAME"],
                "email": values["GALLERY_ADMIN_EMAIL"],
                "password1": password,
                "password2": password,
            }
        )
        if not form.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(str(e) for e in errors)}"
                for field, errors in form.errors.items()
            )
            raise CommandError(f"GALLERY_ADMIN_* refused: {problems}")
        try:
            user = services.create_first_admin(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except PermissionDenied:
            self.stderr.write("Accounts exist already: GALLERY_ADMIN_* left unused.")
            return
        self.stderr.write(f"Created the administrator {user.get_username()!r}.")
