from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _restore_search_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from gallery.services import search

    search.restore_sqlite_triggers(connections[using])


class GalleryConfig(AppConfig):
    name = "gallery"
    verbose_name = "Gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import account_deleting
        from gallery.services import departures

        post_migrate.connect(_restore_search_triggers, sender=self)
        # accounts knows nothing of images: deleting an account asks us what to do with them.
        account_deleting.connect(departures.on_account_deleting, dispatch_uid="gallery-images")
