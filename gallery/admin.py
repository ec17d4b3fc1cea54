from django.contrib import admin
from django.utils.html import format_html

from gallery.models import Generation
from gallery.services import generation as pipeline


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("preview", "public_id", "short_prompt", "status", "attempts", "created_at")
    list_filter = ("status",)
    search_fields = ("prompt", "public_id")
    show_full_result_count = False  # no COUNT(*) over the whole table per page view
    list_per_page = 50
    readonly_fields = [
        f.name for f in Generation._meta.fields if f.name not in ("prompt", "negative_prompt")
    ]
    actions = ["retry_failed"]

    @admin.display(description="")
    def preview(self, obj: Generation) -> str:
        if not obj.thumbnail:
            return ""
        return format_html(
            '<img src="{}" width="64" height="64" style="border-radius:6px" alt="">',
            obj.thumbnail_url,
        )

    @admin.display(description="Prompt")
    def short_prompt(self, obj: Generation) -> str:
        return obj.prompt[:80]

    @admin.action(description="Retry selected failed generations")
    def retry_failed(self, request, queryset):
        for item in queryset.filter(status=Generation.Status.FAILED):
            pipeline.retry(item)

    # Deleting goes through the service, which removes the files as well as the row.
    def delete_model(self, request, obj):
        pipeline.delete(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            pipeline.delete(obj)
