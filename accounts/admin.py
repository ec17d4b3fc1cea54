from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from accounts import services, tokens
from accounts.forms import AdminSigninForm
from accounts.models import ApiToken, Invite

User = get_user_model()

# The admin's sign-in page checks passwords too: under the same per-account delay.
admin.site.login_form = AdminSigninForm


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "state", "link", "created_by", "expires_at", "used_by", "used_at")
    list_select_related = ("created_by", "used_by")
    fields = ("note", "expires_at", "link", "created_by", "created_at", "used_by", "used_at")
    readonly_fields = ("link", "created_by", "created_at", "used_by", "used_at")

    def get_changeform_initial_data(self, request) -> dict:
        return {"expires_at": Invite._meta.get_field("expires_at").get_default()}

    def save_model(self, request, obj: Invite, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("Invitation link"))
    def link(self, obj: Invite) -> str:
        if not obj.pk:
            return gettext("Shown once saved.")
        # A relative link: "Copy link address" gives the full URL on whatever host serves
        # the admin, with no need to know it here.
        return format_html('<a href="{0}">{0}</a>', obj.get_absolute_url())

    @admin.display(description=_("State"))
    def state(self, obj: Invite) -> str:
        if obj.used_at:
            return pgettext("invite", "Used")
        if obj.expires_at <= timezone.now():
            return pgettext("invite", "Expired")
        return pgettext("invite", "Open")


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Deleting a user here follows the site's account-deletion policy for their images,
    exactly as when they delete their own account."""

    def delete_model(self, request, obj) -> None:
        try:
            services.delete_account(obj)
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            self.delete_model(request, user)


class TokenStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("active", _("Active")),
            ("revoked", _("Revoked")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at=None)
        if self.value() == "revoked":
            return queryset.exclude(revoked_at=None)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see and revoke tokens; they cannot make one (its owner would never see it) nor
    see or edit one: only a digest is stored, and it is not shown."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "state")
    list_select_related = ("user",)
    list_filter = (TokenStateFilter,)
    search_fields = ("name", "user__username", "user__email", "prefix")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_tokens",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("State"))
    def state(self, obj: ApiToken) -> str:
        return gettext("Revoked") if obj.revoked_at else gettext("Active")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke_tokens(self, request, queryset) -> None:
        count = 0
        for token in queryset.filter(revoked_at=None):
            tokens.revoke(token)
            count += 1
        note = ngettext("Revoked %(count)s token.", "Revoked %(count)s tokens.", count)
        self.message_user(request, note % {"count": count})
