"""`manage.py rebuild_thumbnails`: make thumbnails and previews again from the originals."""

from django.core.management.base import BaseCommand, CommandError

from gallery.management import progress
from gallery.services import derivatives


class Command(BaseCommand):
    help = (
        "Make the thumbnails (1x, 2x) and the detail preview again from each original. "
        "New files get new names; the old ones are deleted once the row points at the new."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--missing-only",
            action="store_true",
            help="only the thumbnails and previews that have no name or no file in storage",
        )
        parser.add_argument(
            "--ids", nargs="+", metavar="PUBLIC_ID", help="only these generations (public ids)"
        )
        progress.add_argument(parser)

    def handle(self, *args, **options):
        result = derivatives.rebuild_many(
            only_missing=options["missing_only"],
            public_ids=options["ids"],
            progress=progress.factory(options),
        )
        for line in result.failed:
            self.stderr.write(line)
        if options["verbosity"]:
            self.stdout.write(
                f"Rebuilt {result.rebuilt}, unchanged {result.unchanged}, "
                f"failed {len(result.failed)}."
            )
        if result.failed:
            raise CommandError(f"{len(result.failed)} could not be rebuilt (listed above).")
