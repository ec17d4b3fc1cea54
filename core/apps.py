from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """What both `accounts` and `gallery` read: the site's settings and request helpers.
    It imports neither, so the two apps depend on it and never on each other's upward."""

    name = "core"
    verbose_name = _("Site")
    default_auto_field = "django.db.models.BigAutoField"
