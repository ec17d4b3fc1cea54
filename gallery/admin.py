from django.contrib import admin
from django.utils.html import format_html

from gallery.models import Generation
from gallery.services import generation as pipeline


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "preview", "public_id", "short_prompt", "owner", "visibility", "moderation", "status",
        "created_at",
    )  # fmt: skip
    list_filter = ("status", "visibility", "moderation")
    list_select_related = ("owner",)
    search_fields = ("prompt", "public_id")
    show_full_result_count = False  # no COUNT(*) over the whole table per page view
    list_per_page = 50
    fields = (
        "large_preview", "prompt", "negative_prompt", "public_id", "owner", "visibility",
        "moderation", "moderation_reason", "moderated_by", "moderated_at", "source", "status",
        "status_note",
        "failure_reason", "failure_detail", "attempts", "claims", "width", "height", "format",
        "byte_size", "sha256", "endpoint_label", "endpoint_url", "created_at", "queued_at",
        "started_at", "finished_at",
    )  # fmt: skip
    # Only the prompts are editable; everything else is what the pipeline recorded.
    readonly_fields = tuple(f for f in fields if f not in ("prompt", "negative_prompt"))
    actions = ["retry_failed"]

    @admin.display(description="")
    def preview(self, obj: Generation) -> str:
        if not obj.thumbnail:
            return ""
        return format_html(
            '<img src="{}" width="64" height="64" style="border-radius:6px" alt="">',
            obj.thumbnail_url,
        )

    @admin.display(description="Image")
    def large_preview(self, obj: Generation) -> str:
        if not obj.thumbnail_2x:
            return "—"
        return format_html(
            '<a href="{}"><img src="{}" width="512" height="512" style="border-radius:8px" '
            'alt=""></a>',
            obj.original_url,
            obj.thumbnail_2x_url,
        )

    @admin.display(description="Prompt")
    def short_prompt(self, obj: Generation) -> str:
        return obj.prompt[:80]

    @admin.action(description="Retry selected failed generations")
    def retry_failed(self, request, queryset):
        for item in queryset.filter(status=Generation.Status.FAILED):
            pipeline.retry(item)

    def has_add_permission(self, request) -> bool:
        return False  # generations are made by submitting a prompt, not by hand

    # Deleting goes through the service, which removes the files as well as the row.
    def delete_model(self, request, obj):
        pipeline.delete(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            pipeline.delete(obj)
