"""`manage.py import_gallery IN.zip`: recreate the generations of an export_gallery zip."""

from django.core.management.base import BaseCommand, CommandError

from gallery.management import progress
from gallery.services import archive


class Command(BaseCommand):
    help = (
        "Import an export_gallery zip. Generations whose public id exists already are left "
        "as they are, so importing twice changes nothing. Only originals that pass the "
        "endpoint's image check are stored, under names the import makes; thumbnails are "
        "made again. Missing users are created without a usable password (set one with "
        "changepassword or the admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="IN.zip")
        progress.add_argument(parser)

    def handle(self, *args, path, **options):
        try:
            result = archive.import_gallery(path, progress=progress.factory(options))
        except archive.ArchiveError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for line in result.errors:
            self.stderr.write(line)
        if options["verbosity"]:
            self.stdout.write(
                f"Imported {result.created} generations; {result.present} were here already."
            )
            if names := result.users_created:
                listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                self.stdout.write(f"Created {len(names)} users without a usable password: {listed}")
        if result.errors:
            raise CommandError(f"{len(result.errors)} generations not imported (listed above).")
