"""`manage.py backfill_previews`: kept for existing scripts; the previews-only case of
`rebuild_thumbnails --missing-only`, through the same service."""

from django.core.management.base import BaseCommand

from gallery.management import progress
from gallery.services import generation as pipeline


class Command(BaseCommand):
    help = "Make the detail-page preview of images that have none (rebuild_thumbnails does more)"

    def add_arguments(self, parser):
        progress.add_argument(parser)

    def handle(self, *args, **options):
        result = pipeline.rebuild_many(
            only_missing=True, fields=("preview_image",), progress=progress.factory(options)
        )
        for line in result.failed:
            self.stderr.write(line)
        self.stdout.write(
            f"Made {result.rebuilt} previews ({len(result.failed)} could not be read)."
        )
