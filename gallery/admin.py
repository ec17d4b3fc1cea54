"""The admin: thin, on the same services as the site, and fast on a table of a million rows."""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from gallery.models import (
    Appeal,
    BlockedAttempt,
    BlockedTerm,
    Collection,
    DailyFigures,
    EndpointStat,
    Generation,
    ModerationEvent,
    Report,
    ShareLink,
    StylePreset,
)
from gallery.services import intake, moderation, scan, storage

_PUBLIC_ID = re.compile(r"[a-z0-9]{12}")

# --- Scale helpers --------------------------------------------------------------------------


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: COUNT(*) over a million rows costs a full index scan on every
    page view, a capped count stops early. Past the cap the admin offers CAP / per_page pages;
    filters and search narrow the rest."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Unordered: with ORDER BY the database may sort every match before the LIMIT.
        return self.object_list.order_by().values("pk")[: self.CAP].count()


class OwnerFilter(admin.SimpleListFilter):
    """The owner by username, typed: a dropdown of every user does not scale."""

    title = _("owner (username)")
    parameter_name = "owner"
    template = "admin/gallery/input_filter.html"

    def lookups(self, request, model_admin):
        return [("", "")]  # the filter is shown only when it has a choice

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(owner__username=self.value().strip())
        return queryset

    def choices(self, changelist):
        # The other filters' parameters, kept as hidden fields of the little form.
        query = changelist.get_filters_params()
        query.pop(self.parameter_name, None)
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "hidden": [(k, v) for k, values in query.items() for v in values],
        }


class ReportedFilter(admin.SimpleListFilter):
    title = _("reports")
    parameter_name = "reported"

    def lookups(self, request, model_admin):
        return [("yes", _("Has open reports"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            # Few open reports: their ids come from the report index, then rows by primary key.
            open_ids = Report.objects.filter(resolved_at__isnull=True).values("generation_id")
            return queryset.filter(pk__in=open_ids)
        return queryset


class ScanRiskFilter(admin.SimpleListFilter):
    """By the image scan's risk score; the title says when the scan is off."""

    title = _("scan risk")
    parameter_name = "scan_risk"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = gettext("scan risk (image scan %(state)s)") % {"state": scan.state()}

    def lookups(self, request, model_admin):
        return [
            ("high", _("0.8 and above")),
            ("medium", _("0.5 to 0.8")),
            ("low", _("below 0.5")),
            ("none", _("not scanned")),
        ]

    def queryset(self, request, queryset):
        match self.value():
            case "high":
                return queryset.filter(scan_risk__gte=0.8)
            case "medium":
                return queryset.filter(scan_risk__gte=0.5, scan_risk__lt=0.8)
            case "low":
                return queryset.filter(scan_risk__lt=0.5)
            case "none":
                return queryset.filter(scan_risk__isnull=True)
        return queryset


# The moderation actions by name, for the message saying what was done.
_ACTION_NAMES = {
    ModerationEvent.Action.APPROVE: pgettext_lazy("admin action", "approve"),
    ModerationEvent.Action.HIDE: pgettext_lazy("admin action", "hide"),
    ModerationEvent.Action.REMOVE: pgettext_lazy("admin action", "remove"),
}


class ModerationActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=moderation.REASON_MAX,
        label=_("Reason (shown to owners)"),
        widget=forms.TextInput(attrs={"size": 40}),
    )


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReportInline(_ReadOnlyInline):
    model = Report
    fk_name = "generation"
    fields = ("created_at", "reporter", "category", "note", "resolution", "resolved_by")
    readonly_fields = fields
    verbose_name_plural = _("reports")


class ModerationEventInline(_ReadOnlyInline):
    model = ModerationEvent
    fields = ("created_at", "action", "from_state", "to_state", "actor", "reason", "evidence")
    readonly_fields = fields
    verbose_name_plural = _("moderation history")


# --- Generations ----------------------------------------------------------------------------


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "preview", "public_id", "short_prompt", "owner", "visibility", "moderation", "reported",
        "status", "created_at",
    )  # fmt: skip
    list_filter = (
        "status", "moderation", "visibility", ReportedFilter, ScanRiskFilter, OwnerFilter,
        "created_at",
    )  # fmt: skip
    list_select_related = ("owner",)
    # "=": an exact id uses the unique index; the prompt is a substring search.
    search_fields = ("prompt",)
    search_help_text = _("Words of the prompt, or an exact image id.")
    show_full_result_count = False  # no COUNT(*) over the whole table per page view
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would scan the table
    paginator = CappedCountPaginator
    list_per_page = 50
    fields = (
        "large_preview", "prompt", "negative_prompt", "preset_name", "typed_prompt",
        "typed_negative_prompt", "public_id", "owner", "visibility",
        "moderation", "moderation_reason", "moderated_by", "moderated_at", "source", "status",
        "status_note",
        "failure_reason", "failure_detail", "attempts", "claims", "width", "height", "format",
        "byte_size", "sha256", "phash", "scan_risk", "scan_scores", "endpoint_label",
        "endpoint_url", "created_at", "queued_at",
        "started_at", "finished_at",
    )  # fmt: skip
    # Only the prompts are editable; everything else is what the pipeline recorded, and the
    # moderation state changes only through the actions (audited, reports closed).
    readonly_fields = tuple(f for f in fields if f not in ("prompt", "negative_prompt"))
    raw_id_fields = ("owner", "source")
    inlines = [ModerationEventInline, ReportInline]
    action_form = ModerationActionForm
    actions = ["approve_selected", "hide_selected", "remove_selected", "retry_failed"]

    class Media:
        css = {"all": ("gallery/admin.css",)}

    def get_search_results(self, request, queryset, search_term):
        # An image id alone: the unique index, not a substring scan of every prompt.
        term = search_term.strip()
        if _PUBLIC_ID.fullmatch(term) and queryset.filter(public_id=term).exists():
            return queryset.filter(public_id=term), False
        return super().get_search_results(request, queryset, search_term)

    def get_queryset(self, request) -> QuerySet:
        open_reports = Report.objects.filter(generation=OuterRef("pk"), resolved_at__isnull=True)
        return super().get_queryset(request).annotate(has_reports=Exists(open_reports))

    @admin.display(description="")
    def preview(self, obj: Generation) -> str:
        if not obj.thumbnail:
            return ""
        return format_html(
            '<img src="{}" width="64" height="64" style="border-radius:6px" alt="">',
            obj.thumbnail_url,
        )

    @admin.display(description=_("Image"))
    def large_preview(self, obj: Generation) -> str:
        if not obj.thumbnail_2x:
            return "—"
        return format_html(
            '<a href="{}"><img src="{}" width="512" height="512" style="border-radius:8px" '
            'alt=""></a>',
            obj.original_url,
            obj.thumbnail_2x_url,
        )

    @admin.display(description=_("Prompt"))
    def short_prompt(self, obj: Generation) -> str:
        # A readable column (gallery/admin.css gives it the width): the start of the prompt,
        # the whole of it on hover.
        text = obj.prompt if len(obj.prompt) <= 240 else obj.prompt[:239] + "…"
        return format_html('<span class="admin-prompt" title="{}">{}</span>', obj.prompt, text)

    @admin.display(description=_("Reported"), boolean=True)
    def reported(self, obj: Generation) -> bool:
        return getattr(obj, "has_reports", False)

    def _decide(self, request, queryset, action: str) -> None:
        reason = request.POST.get("reason", "")
        done, refused = 0, []
        for item in queryset:
            try:
                moderation.decide(item, action, actor=request.user, reason=reason)
                done += 1
            except ValidationError as exc:
                refused.append(f"{item.public_id}: {exc.messages[0]}")
        if done:
            note = ngettext(
                "%(count)s image: %(action)s done.",
                "%(count)s images: %(action)s done.",
                done,
            )
            label = _ACTION_NAMES.get(action, action)
            self.message_user(request, note % {"action": label, "count": done}, messages.SUCCESS)
        for line in refused[:10]:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description=_("Approve (or restore) selected images"))
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, ModerationEvent.Action.APPROVE)

    @admin.action(description=_("Hide selected images (give a reason)"))
    def hide_selected(self, request, queryset):
        self._decide(request, queryset, ModerationEvent.Action.HIDE)

    @admin.action(description=_("Remove selected images and delete their files (give a reason)"))
    def remove_selected(self, request, queryset):
        self._decide(request, queryset, ModerationEvent.Action.REMOVE)

    @admin.action(description=_("Retry selected failed generations"))
    def retry_failed(self, request, queryset):
        for item in queryset.filter(status=Generation.Status.FAILED):
            try:
                intake.retry(item, actor=request.user)
            except ValidationError as exc:
                self.message_user(
                    request, f"{item.public_id}: {' '.join(exc.messages)}", messages.ERROR
                )

    def has_add_permission(self, request) -> bool:
        return False  # generations are made by submitting a prompt, not by hand

    # Deleting goes through the service, which removes the files as well as the row.
    def delete_model(self, request, obj):
        storage.delete(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            storage.delete(obj)


# --- Reports, the blocklist, the decision log -----------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the services: to read, never to edit by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("generation", "category", "reporter", "created_at", "resolution", "resolved_by")
    list_filter = ("category", "resolution", "created_at")
    list_select_related = ("generation", "reporter", "resolved_by")
    search_fields = ("note", "=generation__public_id", "=reporter__username")
    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.register(ModerationEvent)
class ModerationEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "generation_public_id", "action", "from_state", "to_state",
                    "decided_by", "reason", "evidence")  # fmt: skip
    list_filter = ("action", "to_state", "created_at")
    list_select_related = ("actor",)
    search_fields = ("=generation_public_id", "reason")
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["undo_selected"]

    @admin.display(description=_("Decided by"))
    def decided_by(self, obj: ModerationEvent) -> str:
        return str(obj.actor) if obj.actor_id else gettext("the system")

    @admin.action(description=_("Undo the selected system holds"))
    def undo_selected(self, request, queryset):
        done, failed = 0, []
        for event in queryset:
            try:
                moderation.undo(event, actor=request.user)
            except ValidationError as exc:
                failed.append(f"{event.generation_public_id}: {exc.messages[0]}")
            else:
                done += 1
        note = ngettext("Undid %(count)s system hold.", "Undid %(count)s system holds.", done)
        self.message_user(request, note % {"count": done}, messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.WARNING)


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ("generation", "appellant", "created_at", "appealed_state", "outcome",
                    "decided_by", "decision_reason")  # fmt: skip
    list_filter = ("outcome", "appealed_state", "created_at")
    list_select_related = ("generation", "appellant", "decided_by")
    search_fields = ("note", "=generation__public_id", "=appellant__username")


@admin.register(BlockedTerm)
class BlockedTermAdmin(admin.ModelAdmin):
    list_display = ("term", "kind", "reason", "active", "created_by", "created_at")
    list_filter = ("kind", "active")
    list_editable = ("active",)
    search_fields = ("term", "reason")
    readonly_fields = ("created_by", "created_at")
    fields = ("term", "kind", "reason", "active", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(BlockedAttempt)
class BlockedAttemptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "short_prompt", "reason", "matched")
    list_filter = ("reason", "created_at")
    list_select_related = ("user",)
    search_fields = ("prompt", "=user__username")
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description=_("Prompt"))
    def short_prompt(self, obj: BlockedAttempt) -> str:
        return obj.prompt[:80]


# --- Collections and share links ------------------------------------------------------------


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "visibility", "created_at", "updated_at")
    list_filter = ("visibility",)
    list_select_related = ("owner",)
    search_fields = ("name", "=owner__username", "=public_id")
    # Images are added from the site (the rules of who may add what are the service's);
    # here staff see, rename, make private or delete a collection.
    fields = ("public_id", "owner", "name", "description", "visibility", "cover", "created_at")
    readonly_fields = ("public_id", "owner", "cover", "created_at")
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False


@admin.action(description=_("Revoke the selected links"))
def revoke_links(modeladmin, request, queryset) -> None:
    from django.utils import timezone

    count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    note = ngettext("Revoked %(count)s link.", "Revoked %(count)s links.", count)
    modeladmin.message_user(request, note % {"count": count}, messages.SUCCESS)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("short_token", "owner", "generation", "collection", "expires_at",
                    "hide_prompts", "revoked_at", "created_at")  # fmt: skip
    list_filter = ("hide_prompts", "revoked_at", "expires_at")
    list_select_related = ("owner", "generation", "collection")
    search_fields = ("=owner__username",)
    # Staff may revoke a link (an action, or setting "revoked at"), never see its password.
    fields = ("owner", "generation", "collection", "expires_at", "hide_prompts", "revoked_at",
              "created_at")  # fmt: skip
    readonly_fields = ("owner", "generation", "collection", "created_at")
    actions = [revoke_links]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("Token"))
    def short_token(self, obj: ShareLink) -> str:
        return obj.token[:8] + "…"


@admin.register(StylePreset)
class StylePresetAdmin(admin.ModelAdmin):
    """Styles the composer offers: a prompt template with {prompt}, an added negative
    prompt, an example image of the gallery, their order and whether they are offered."""

    list_display = ("name", "prompt_template", "order", "enabled")
    list_editable = ("order", "enabled")
    raw_id_fields = ("example",)
    search_fields = ("name",)


# --- The operator's dashboard (gallery.services.dashboard writes these) ---------------------


@admin.register(DailyFigures)
class DailyFiguresAdmin(ReadOnlyAdmin):
    list_display = ("day", "succeeded", "failed", "wait_p50", "run_p50", "stored_bytes")
    date_hierarchy = "day"


@admin.register(EndpointStat)
class EndpointStatAdmin(ReadOnlyAdmin):
    list_display = ("day", "endpoint", "outcome", "calls", "seconds_total")
    list_filter = ("outcome", "endpoint")
