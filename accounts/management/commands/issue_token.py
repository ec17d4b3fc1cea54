"""`manage.py issue_token USERNAME [--name NAME]`: an API token for scripting.

Only the token goes to stdout, so `TOKEN=$(manage.py issue_token alice)` works; everything
said to a person goes to stderr."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import tokens


class Command(BaseCommand):
    help = "Issue an API token for a user and print it (only it) on stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="What will use the token.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The account {username!r} is disabled: no token issued.")
        try:
            token, raw = tokens.issue(user, name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(raw)
        self.stderr.write(
            f"Issued token {token.name!r} ({token.prefix}…) for {username}. "
            "It is shown only this once; revoke it on the account's API tokens page.",
            style_func=self.style.SUCCESS,  # stderr is red by default; this is not an error
        )
