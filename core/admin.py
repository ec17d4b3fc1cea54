from django.contrib import admin

from core.models import SiteSettings


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        ("Accounts", {"fields": ("signup_mode", "anonymous_browsing", "default_visibility")}),
        ("Moderation", {"fields": ("moderation_mode", "report_threshold")}),
        (
            "Image scan",
            {
                "fields": ("scan_hold_threshold", "scan_blur_threshold"),
                "description": "Used only with the optional scan extra installed; the "
                'Generations page\'s "scan risk" filter says whether the scan is on.',
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
