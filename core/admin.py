from django.contrib import admin

from core.models import SiteSettings


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        ("Accounts", {"fields": ("signup_mode", "anonymous_browsing", "default_visibility")}),
        ("Moderation", {"fields": ("moderation_mode", "report_threshold")}),
    )

    def has_add_permission(self, request) -> bool:
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
