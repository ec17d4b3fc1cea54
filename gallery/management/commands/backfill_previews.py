from django.core.management.base import BaseCommand

from gallery.models import Generation
from gallery.services import generation as pipeline
from gallery.services.images import InvalidImageError


class Command(BaseCommand):
    help = "Make the detail-page preview of images stored before previews existed"

    def handle(self, *args, **options):
        rows = Generation.objects.with_image().filter(preview_image="").exclude(original="")
        made = failed = 0
        for item in rows.iterator():
            try:
                made += pipeline.backfill_preview(item)
            except (OSError, InvalidImageError) as exc:
                failed += 1
                self.stderr.write(f"{item.public_id}: {exc}")
        self.stdout.write(f"Made {made} previews ({failed} could not be read).")
