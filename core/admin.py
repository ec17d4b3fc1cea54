from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.models import SiteSettings


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        (_("Accounts"), {"fields": ("signup_mode", "anonymous_browsing", "default_visibility")}),
        (_("Moderation"), {"fields": ("moderation_mode", "report_threshold")}),
        (
            _("Image scan"),
            {
                "fields": ("scan_hold_threshold", "scan_blur_threshold"),
                "description": _(
                    "Used only with the optional scan extra installed; the "
                    'Generations page\'s "scan risk" filter says whether the scan is on.'
                ),
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
