"""`manage.py export_gallery OUT.zip`: the finished generations, files and all, in a zip."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from gallery.management import progress
from gallery.services import archive


class Command(BaseCommand):
    help = (
        "Export finished generations (succeeded and failed; not queued or running ones) to a "
        "zip of their image files and a JSON Lines manifest, for import_gallery."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="OUT.zip")
        parser.add_argument("--user", metavar="USERNAME", help="only this user's generations")
        progress.add_argument(parser)

    def handle(self, *args, path, user, **options):
        owner = None
        if user:
            User = get_user_model()
            owner = User.objects.filter(**{User.USERNAME_FIELD: user}).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.", returncode=2)
        try:
            result = archive.export_gallery(path, owner=owner, progress=progress.factory(options))
        except OSError as exc:
            raise CommandError(f"Could not write {path}: {exc}") from exc
        for line in result.errors:
            self.stderr.write(line)
        if options["verbosity"]:
            self.stdout.write(f"Exported {result.exported} generations to {path}.")
            if result.unfinished:
                self.stdout.write(f"Left out {result.unfinished} still queued or running.")
        if result.errors:
            raise CommandError(f"{len(result.errors)} generations left out (listed above).")
