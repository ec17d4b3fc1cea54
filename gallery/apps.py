from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _restore_search_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from gallery.services import search

    search.restore_sqlite_triggers(connections[using])


class GalleryConfig(AppConfig):
    name = "gallery"
    verbose_name = _("Gallery")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.contrib.sessions.models import Session
        from django.db.models.signals import post_delete, post_save

        from accounts.signals import account_deleting
        from core.models import SiteSettings
        from gallery.models import Generation
        from gallery.services import departures, media_cache, page_cache

        post_migrate.connect(_restore_search_triggers, sender=self)
        # accounts knows nothing of images: deleting an account asks us what to do with them.
        account_deleting.connect(departures.on_account_deleting, dispatch_uid="gallery-images")
        # Any change that may change who sees an image's files empties every web process's
        # memory of public files (gallery/services/media_cache.py). Writes by `.update()`
        # that can change access call media_cache.access_changed themselves.
        post_save.connect(media_cache.on_row_saved, sender=Generation, dispatch_uid="media-save")
        post_delete.connect(media_cache.on_deleted, sender=Generation, dispatch_uid="media-del")
        post_save.connect(media_cache.on_site_saved, sender=SiteSettings, dispatch_uid="media-site")
        # What a signed-out visitor sees (page_cache) also changes with a row's content.
        post_save.connect(page_cache.on_row_saved, sender=Generation, dispatch_uid="page-save")
        # What a session's private entries may show ends with the session or the account.
        user = get_user_model()
        for uid, signal, sender in (
            ("out", user_logged_out, None), ("user-save", post_save, user),
            ("user-del", post_delete, user), ("session-del", post_delete, Session),
        ):  # fmt: skip
            signal.connect(
                media_cache.on_account_changed, sender=sender, dispatch_uid=f"media-{uid}"
            )
